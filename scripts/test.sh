#!/usr/bin/env bash
# Runs every test with the real ONNX Runtime (installs it first if missing).
# This is the README's test command.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup-ort.sh >/dev/null
go test -count=1 -timeout 20m ./... "$@"
