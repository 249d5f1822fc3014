#!/usr/bin/env bash
# Accuracy of every pruning method x keep ratio on the embedded model's
# held-out scenes (seed 1000, 300 px PNG), through vlmrun. Writes
# build/pruning/table.jsonl and prints a markdown table.
# Usage: scripts/pruning-table.sh [COUNT] [JOBS]
set -euo pipefail
cd "$(dirname "$0")/.."
count="${1:-300}"; jobs="${2:-2}"
out=build/pruning; mkdir -p "$out/runs"
bin="${VLMRUN_BIN:-build/vlmrun}"   # VLMRUN_BIN: use an already built binary
[[ -n "${VLMRUN_BIN:-}" ]] || go build -o build/vlmrun ./cmd/vlmrun
# Methods with layer numbers set for the 4-layer embedded model.
methods=(random stride pool divprune fastervlm fopru visionzip dart-pre cdpruner tome todre
  fastv "pdrop:layers=1/2/3" "sparsevlm:layers=1/2/3" "aim:start=1,step=0.5" dart "dart:pivot=hidden"
  vflowopt "vflowopt:exact=true" flowcut mustdrop-merge globalcom2 catp "mustdrop:layers=1/2")
# Adaptive budgets (issue 15): the coverage radius sets the mean count; these
# radii land near 32 / 16 / 7 tokens on the held-out scenes.
adaptive=("adaptive:score=coverage,radius=0.02" "adaptive:score=coverage,radius=0.07" "adaptive:score=coverage,radius=0.2")
adaptive_in=(zipvl "zipvl:tau=0.9" "adaptive-fastv:signal=coverage,radius=0.03" "adaptive-fastv:signal=coverage,radius=0.08"
  "adaptive-fastv:signal=coverage,radius=0.2")
run() { # method keep
  f="$out/runs/$(echo "$1-$2" | tr ':/=,' '____').json"
  [[ -s "$f" ]] || "$bin" eval --json --threads 1 --count "$count" --prune "$1" --keep "$2" > "$f"
}
export -f run; export out count bin
{
  echo "none 1.0"
  for m in "${methods[@]}"; do for k in 0.5 0.25 0.11; do echo "$m $k"; done; done
  echo "adaptive 1.0"; echo "adaptive-fastv -"
  for m in "${adaptive[@]}"; do echo "$m 1.0"; done
  for m in "${adaptive_in[@]}"; do echo "$m -"; done
} | while read -r m k; do
  if [[ "$k" == "-" ]]; then
    echo "f=\"$out/runs/$(echo "$m" | tr ':/=,' '____').json\"; [[ -s \"\$f\" ]] || "$bin" eval --json --threads 1 --count $count --prune $m > \"\$f\""
  else
    echo "run '$m' '$k'"
  fi
done | xargs -P "$jobs" -I{} bash -c '{}'
cat "$out"/runs/*.json | /usr/bin/python3 scripts/pruning-table.py "$out/table.jsonl"
