#!/usr/bin/env bash
# Accuracy of every pruning method x keep ratio on the embedded model's
# held-out scenes (seed 1000, 300 px PNG), through vlmrun. Writes
# build/pruning/table.jsonl and prints a markdown table.
# Usage: scripts/pruning-table.sh [COUNT] [JOBS]
set -euo pipefail
cd "$(dirname "$0")/.."
count="${1:-300}"; jobs="${2:-2}"
out=build/pruning; mkdir -p "$out/runs"
go build -o build/vlmrun ./cmd/vlmrun
# Methods with layer numbers set for the 4-layer embedded model.
methods=(random stride pool divprune fastervlm fopru visionzip dart-pre cdpruner tome todre
  fastv "pdrop:layers=1/2/3" "sparsevlm:layers=1/2/3" "aim:start=1" "dart:pivot=hidden")
run() { # method keep
  f="$out/runs/$(echo "$1-$2" | tr ':/=,' '____').json"
  [[ -s "$f" ]] || build/vlmrun eval --json --threads 1 --count "$count" --prune "$1" --keep "$2" > "$f"
}
export -f run; export out count
{
  echo "none 1.0"
  for m in "${methods[@]}"; do for k in 0.5 0.25 0.11; do echo "$m $k"; done; done
  echo "adaptive 1.0"; echo "adaptive-fastv -"
} | while read -r m k; do
  if [[ "$k" == "-" ]]; then
    echo "f=\"$out/runs/$(echo "$m" | tr ':/=,' '____').json\"; [[ -s \"\$f\" ]] || build/vlmrun eval --json --threads 1 --count $count --prune $m > \"\$f\""
  else
    echo "run '$m' '$k'"
  fi
done | xargs -P "$jobs" -I{} bash -c '{}'
cat "$out"/runs/*.json | /usr/bin/python3 -c '
import json, sys
dec = json.JSONDecoder(); s = sys.stdin.read(); i = 0; rows = []
while i < len(s):
    while i < len(s) and s[i].isspace(): i += 1
    if i >= len(s): break
    o, i = dec.raw_decode(s, i); rows.append(o)
with open(sys.argv[1], "w") as f:
    for r in rows: f.write(json.dumps(r) + "\n")
base = next(r for r in rows if r["prune"] == "none")
print(f"unpruned: exact {base[\"exact_match\"]:.3f}, object F1 {base[\"object_f1\"]:.3f} ({base[\"count\"]} scenes)\n")
print("| method | keep 0.5 | keep 0.25 | keep 0.11 |")
print("|---|---|---|---|")
by = {}
for r in rows:
    if r["prune"] == "none": continue
    by.setdefault(r["prune"], {})[r["keep"] or "-"] = r
for m, ks in by.items():
    def cell(k):
        r = ks.get(k)
        return "-" if r is None else f"{r[\"exact_match\"]:.3f} / {r[\"object_f1\"]:.3f} ({r[\"mean_visual_tokens\"]:.1f}→{r[\"mean_visual_tokens_last_layer\"]:.1f})"
    if set(ks) <= {"1.0", "-"}:
        r = list(ks.values())[0]
        print(f"| {m} (adaptive) | {cell(list(ks)[0])} | | |")
    else:
        print(f"| {m} | {cell(\"0.5\")} | {cell(\"0.25\")} | {cell(\"0.11\")} |")
' "$out/table.jsonl"
