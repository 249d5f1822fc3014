#!/usr/bin/env bash
# setup-transformersjs.sh installs the reference implementation for the
# model-family differential tests: @huggingface/transformers 4.3.1 (with
# onnxruntime-node 1.30.0 and sharp, as its package-lock pins them) into
# scripts/transformersjs-ref/node_modules (ignored by git), from the npm
# registry only.
#
# Install scripts are skipped (--ignore-scripts): onnxruntime-node's
# postinstall would try to download extra binaries from outside the
# registry. Its npm tarball already holds the CPU binding
# (bin/napi-v6/linux/<arch>/onnxruntime_binding.node and libonnxruntime.so.1),
# which transformers.js loads through the normal require path; sharp's
# prebuilt libvips comes as the @img/sharp-* optional packages. The script
# checks that both load. Idempotent: does nothing when the pinned versions are
# already in place and load.
set -euo pipefail

cd "$(dirname "$0")/transformersjs-ref"

if ! command -v npm >/dev/null 2>&1; then
  echo "setup-transformersjs: npm not found; install Node.js (>= 18) and npm (e.g. apt-get install nodejs npm)" >&2
  exit 1
fi

check() {
  node -e '
    const fs = require("fs");
    const v = JSON.parse(fs.readFileSync("node_modules/@huggingface/transformers/package.json", "utf8")).version;
    if (v !== "4.3.1") throw new Error("transformers.js " + v + ", want 4.3.1");
    const ort = require("onnxruntime-node");
    if (!ort.listSupportedBackends().some((b) => b.name === "cpu")) throw new Error("onnxruntime-node has no cpu backend");
    require("sharp");
  ' 2>/dev/null
}

if check; then
  echo "setup-transformersjs: transformers.js 4.3.1 already installed in scripts/transformersjs-ref/node_modules"
  exit 0
fi
npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
if ! check; then
  echo "setup-transformersjs: installed, but transformers.js, onnxruntime-node or sharp does not load:" >&2
  node -e 'require("@huggingface/transformers"); require("onnxruntime-node").listSupportedBackends(); require("sharp")' >&2 || true
  exit 1
fi
echo "setup-transformersjs: transformers.js 4.3.1 installed in scripts/transformersjs-ref/node_modules"
