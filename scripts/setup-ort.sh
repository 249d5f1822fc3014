#!/usr/bin/env bash
# Installs libonnxruntime.so.1 (ONNX Runtime, CPU) into third_party/onnxruntime/<os>-<arch>/.
#
# The library comes from the npm package onnxruntime-node, fetched with `npm pack`
# (download only: no install scripts run, so nothing tries to reach NuGet or GitHub).
# Idempotent: does nothing when the pinned version is already in place with the
# expected sha256. Needs only the npm registry.
set -euo pipefail

ORT_VERSION="${ORT_VERSION:-1.24.3}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

case "$(uname -m)" in
  x86_64|amd64) arch=x64; goarch=amd64 ;;
  aarch64|arm64) arch=arm64; goarch=arm64 ;;
  *) echo "setup-ort: unsupported machine $(uname -m)" >&2; exit 1 ;;
esac
dest="$root/third_party/onnxruntime/linux-$goarch"
lib="$dest/libonnxruntime.so.1"

# Pinned hashes of libonnxruntime.so.1 inside onnxruntime-node@1.24.3.
declare -A SHA256=(
  [1.24.3-x64]=92ba8e44d31b80a34f5e805076a044122c3be1fffe0d88ed790de7267b0b2682
)
want="${SHA256[$ORT_VERSION-$arch]:-}"

have_ok() {
  [[ -f "$lib" && -f "$dest/VERSION" ]] || return 1
  [[ "$(cat "$dest/VERSION")" == "$ORT_VERSION" ]] || return 1
  [[ -z "$want" ]] || [[ "$(sha256sum "$lib" | cut -d' ' -f1)" == "$want" ]]
}

if have_ok; then
  echo "setup-ort: ONNX Runtime $ORT_VERSION already installed at $lib"
  exit 0
fi

command -v npm >/dev/null || { echo "setup-ort: npm is required (apt-get install npm)" >&2; exit 1; }
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
echo "setup-ort: fetching onnxruntime-node@$ORT_VERSION from the npm registry (about 90 MB)..."
( cd "$tmp" && npm pack --silent "onnxruntime-node@$ORT_VERSION" >/dev/null )
member="package/bin/napi-v6/linux/$arch/libonnxruntime.so.1"
tar -xzf "$tmp/onnxruntime-node-$ORT_VERSION.tgz" -C "$tmp" "$member"
got="$(sha256sum "$tmp/$member" | cut -d' ' -f1)"
if [[ -n "$want" && "$got" != "$want" ]]; then
  echo "setup-ort: sha256 mismatch for $member: got $got, want $want" >&2
  exit 1
fi
[[ -n "$want" ]] || echo "setup-ort: warning: no pinned sha256 for $ORT_VERSION/$arch; got $got" >&2
mkdir -p "$dest"
install -m 0644 "$tmp/$member" "$lib"
echo "$ORT_VERSION" > "$dest/VERSION"
echo "setup-ort: installed ONNX Runtime $ORT_VERSION at $lib (sha256 $got)"
