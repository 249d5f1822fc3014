#!/usr/bin/env bash
# Trains and exports the scenes-vqa model on a Debian 12 machine.
# Usage: scripts/scenesvqa/train.sh [MINUTES] [SEED]
set -euo pipefail
cd "$(dirname "$0")/../.."
minutes="${1:-50}"; seed="${2:-1}"
need=()
/usr/bin/python3 -c 'import torch' 2>/dev/null || need+=(python3-torch)
/usr/bin/python3 -c 'import onnx' 2>/dev/null || need+=(python3-onnx)
dpkg -s libopenblas0-pthread >/dev/null 2>&1 || need+=(libopenblas0-pthread)
if ((${#need[@]})); then
  sudo=""; [[ $(id -u) -eq 0 ]] || sudo=sudo
  $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}"
fi
mkdir -p build/scenesvqa
# Debian's python (not a pyenv one on PATH) sees Debian's torch.
/usr/bin/python3 scripts/scenesvqa/train.py --minutes "$minutes" --seed "$seed" --out build/scenesvqa/ckpt.pt
/usr/bin/python3 scripts/scenesvqa/export.py --ckpt build/scenesvqa/ckpt.pt --out models/scenes-vqa
