#!/usr/bin/env bash
# Installs vlmrun for the current user, usable from any folder:
#   - the binary at $BINDIR/vlmrun (default ~/.local/bin),
#   - ONNX Runtime into the user data folder ($XDG_DATA_HOME/vlmrun, default
#     ~/.local/share/vlmrun) via scripts/setup-ort.sh,
#   - the embedded model (models/scenes-tiny) into the same folder.
# vlmrun searches that folder for both when run outside the repository.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bindir="${BINDIR:-${HOME:?}/.local/bin}"
data_home="${XDG_DATA_HOME:-}"
[[ "$data_home" == /* ]] || data_home="$HOME/.local/share"
data="$data_home/vlmrun"

VLMRUN_ORT_USER_INSTALL=1 ./scripts/setup-ort.sh
mkdir -p "$bindir" "$data/models"
go build -trimpath -o "$bindir/vlmrun" ./cmd/vlmrun
rm -rf "$data/models/scenes-tiny.tmp"
cp -r models/scenes-tiny "$data/models/scenes-tiny.tmp"
rm -rf "$data/models/scenes-tiny"
mv "$data/models/scenes-tiny.tmp" "$data/models/scenes-tiny"
echo "install: $bindir/vlmrun; ONNX Runtime and the embedded model under $data"
case ":$PATH:" in
  *":$bindir:"*) ;;
  *) echo "install: add $bindir to PATH (e.g. export PATH=\"$bindir:\$PATH\")" ;;
esac
"$bindir/vlmrun" version
