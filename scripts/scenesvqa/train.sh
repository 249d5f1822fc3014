#!/usr/bin/env bash
# Trains and exports the scenes-vqa model on a Debian 12 machine, repeating the
# committed model's run (phase 1 + 2, then phase 3; see train.py and the model card).
# Usage: scripts/scenesvqa/train.sh [SEED]
# With another seed the same learning-rate traces are replayed on another data stream.
set -euo pipefail
cd "$(dirname "$0")/../.."
seed="${1:-1}"
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
py=/usr/bin/python3
d=scripts/scenesvqa
$py $d/train.py --vision-steps 1000 --replay $d/lrs-phase2.json --seed "$seed" --out build/scenesvqa/p2.pt
$py $d/train.py --resume build/scenesvqa/p2.pt --refined --replay $d/lrs-phase3.json \
  --step-offset 100000 --seed "$seed" --out build/scenesvqa/ckpt.pt
$py $d/export.py --ckpt build/scenesvqa/ckpt.pt --out models/scenes-vqa
