#!/usr/bin/env bash
# Accuracy of the temporal (video) pruning methods, and of image methods applied
# to all frames' tokens together, on held-out frame-sequence questions of the
# scenes-vqa model (2–4 frames of 64 tokens), at keep 0.5 / 0.25 / 0.11, global
# and per-frame budgets. Writes build/temporal/table.json and prints Markdown.
# Usage: [MODEL=dir] scripts/temporal-table.sh [COUNT, default 200] [extra vlmrun eval flags]
set -euo pipefail
cd "$(dirname "$0")/.."
count="${1:-200}"; shift || true
mkdir -p build/temporal
methods="dtd,dtd:scope=frame,dtd:input=pixel,dycoke,dycoke:scope=frame,fastvid,fastvid:scope=frame"
methods+=",prunevid,prunevid:scope=frame,holitom,holitom:scope=frame"
methods+=",random,pool,divprune,fastervlm,visionzip,tome,oracle,oracle-blind"
go run ./cmd/vlmrun eval --model "${MODEL:-models/scenes-vqa}" --count "$count" --questions sequence \
  --prune "$methods" --keep 0.5,0.25,0.11 --threads 2 --save build/temporal/table.json "$@" >/dev/null
/usr/bin/python3 scripts/scenesvqa/table.py build/temporal/table.json
