#!/usr/bin/env bash
# Installs libonnxruntime.so.1 (ONNX Runtime, CPU) into third_party/onnxruntime/<os>-<arch>/
# and, for vlmrun binaries built or installed outside the repository, into the user data
# folder that vlmrun also searches: $XDG_DATA_HOME/vlmrun/onnxruntime/<os>-<arch>/ (default
# ~/.local/share/vlmrun/...). VLMRUN_ORT_USER_INSTALL=0 skips the user copy.
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
data_home="${XDG_DATA_HOME:-}"
[[ "$data_home" == /* ]] || data_home="${HOME:-}/.local/share"
user_dest="$data_home/vlmrun/onnxruntime/linux-$goarch"

# user_copy copies the repository's library into the user data folder.
user_copy() {
  [[ "${VLMRUN_ORT_USER_INSTALL:-1}" != 0 && -n "${HOME:-}${XDG_DATA_HOME:-}" ]] || return 0
  if [[ -f "$user_dest/libonnxruntime.so.1" && "$(cat "$user_dest/VERSION" 2>/dev/null)" == "$ORT_VERSION" ]] &&
     cmp -s "$lib" "$user_dest/libonnxruntime.so.1"; then
    return 0
  fi
  if mkdir -p "$user_dest" 2>/dev/null && install -m 0644 "$lib" "$user_dest/libonnxruntime.so.1.tmp" &&
     mv -f "$user_dest/libonnxruntime.so.1.tmp" "$user_dest/libonnxruntime.so.1" && echo "$ORT_VERSION" > "$user_dest/VERSION"; then
    echo "setup-ort: also installed at $user_dest/libonnxruntime.so.1 (found by vlmrun binaries outside the repository)"
  else
    echo "setup-ort: warning: could not write $user_dest (binaries outside the repository need --ort-lib or \$VLMRUN_ORT_LIB)" >&2
  fi
}

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
  user_copy
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
user_copy
