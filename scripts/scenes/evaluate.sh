#!/usr/bin/env bash
# Accuracy of the embedded model through vlmrun on the 1,000 held-out scenes
# (generator seed 1000, rendered at 300x300, PNG), unpruned and pruned.
# Writes build/scenes/eval.jsonl (one `vlmrun eval --json` object per line)
# and prints a markdown table. Usage: scripts/scenes/evaluate.sh [COUNT]
set -euo pipefail
cd "$(dirname "$0")/../.."
count="${1:-1000}"
out=build/scenes/eval.jsonl
mkdir -p build/scenes
go build -o build/vlmrun ./cmd/vlmrun
: > "$out"
ev() { build/vlmrun eval --json --count "$count" "$@" | tr -d '\n' >> "$out"; echo >> "$out"; }
ev                                   # unpruned, nfnt resizer (default)
ev --resizer pil                     # unpruned, Pillow-exact resizer
ev --blank                           # background only: the model must not hallucinate
for keep in 0.5 0.25 0.125; do
  ev --prune oracle --keep "$keep"   # tokens overlapping objects most (generator geometry)
  ev --prune random --keep "$keep"   # uniform random subset, seed = scene index
  ev --prune fastervlm --keep "$keep" # top-k by the encoder's CLS attention
done
/usr/bin/python3 - "$out" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
print("| setting | visual tokens | exact match | object F1 | 1 obj | 2 obj | 3 obj | 4 obj |")
print("|---|---|---|---|---|---|---|---|")
for r in rows:
    name = "blank image" if r["blank"] else (r["prune"] if r["prune"] != "none" else "unpruned")
    if r["prune"] != "none": name += f" keep {r['keep']}"
    if r.get("resizer") == "pil": name += " (pil resizer)"
    by = r["by_objects"]
    cells = " | ".join(f"{by[k]['exact_match']:.3f} / {by[k]['object_f1']:.3f}" if k in by else "-" for k in "1234")
    print(f"| {name} | {r['mean_visual_tokens']:.1f} | {r['exact_match']:.3f} | {r['object_f1']:.4f} | {cells} |")
PY
