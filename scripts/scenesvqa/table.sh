#!/usr/bin/env bash
# The scenes-vqa pruning table: every pruning method x keep 0.5 / 0.25 / 0.11 on
# held-out single-image and frame-sequence questions, with the query-aware oracle
# (tokens overlapping the objects the question is about) and the query-blind oracle
# (tokens overlapping any object). In-decoder methods get layer settings for the
# model's 4 decoder layers. Writes build/scenesvqa/table.json and prints Markdown.
# Usage: [MODEL=dir] scripts/scenesvqa/table.sh [COUNT per kind, default 200] [extra vlmrun eval flags]
set -euo pipefail
cd "$(dirname "$0")/../.."
count="${1:-200}"; shift || true
mkdir -p build/scenesvqa
methods="random,stride,pool,divprune,fastervlm,fopru,visionzip,dart-pre,cdpruner,tome,todre,adaptive"
methods+=",fastv:k=2,pdrop:layers=1/2/3,sparsevlm:layers=1/2/3,aim:start=1,dart:k=2"
methods+=",oracle,oracle-blind"
go run ./cmd/vlmrun eval --model "${MODEL:-models/scenes-vqa}" --count "$count" --questions both \
  --prune "$methods" --keep 0.5,0.25,0.11 --threads 2 --save build/scenesvqa/table.json "$@" >/dev/null
/usr/bin/python3 scripts/scenesvqa/table.py build/scenesvqa/table.json
