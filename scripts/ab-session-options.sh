#!/usr/bin/env bash
# A/B of ONNX Runtime session options (vlmrun --ort-options) on the
# realistic-size SmolVLM twin: one `vlmrun bench` process per variant and
# round, the variants interleaved (A B C A B C ...) so that a shared
# machine's drift hits each alike. Each process does WARMUP warm-up runs and
# RUNS measured runs; the table gives, per variant, the median over rounds
# of each process's median per stage, session creation (open + sessions the
# first run opened), the largest peak RSS, and every ratio to the first
# variant. The load average before and after is printed: read the ratios,
# and distrust any below ~5 % unless ROUNDS is large and the load was low.
#
# Usage: scripts/ab-session-options.sh [VARIANT...]
#   a VARIANT is an --ort-options value ("default" = ORT's own defaults), or
#   vlmrun flags when it starts with "--" (e.g. "--tile-sessions=2 --ort-graph-cache=on").
#   default variants: default opt=extended spin=off arena=off mem-pattern=off prepack=off
# Environment: ROUNDS [5] RUNS [3] WARMUP [1] NEW [16] THREADS [2] DTYPE [fp32]
#   MODEL [build/smolvlm-256m-random-nosplit] IMAGE [build/bench-images/tex512.png]
#   OUT [build/ab-session-options] BIN [build/compare/vlmrun] EXTRA [more bench flags]
#   NOBUILD=1 runs BIN as it is instead of building it first
# The folders come from scripts/compare-tjs.sh (and realistic_dtypes.py for
# DTYPE other than fp32). Run it on a quiet machine for defaults.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-5} RUNS=${RUNS:-3} WARMUP=${WARMUP:-1} NEW=${NEW:-16} THREADS=${THREADS:-2} DTYPE=${DTYPE:-fp32}
MODEL=${MODEL:-build/smolvlm-256m-random-nosplit} IMAGE=${IMAGE:-build/bench-images/tex512.png}
OUT=${OUT:-build/ab-session-options} BIN=${BIN:-build/compare/vlmrun} EXTRA=${EXTRA:-}
variants=("$@"); [[ ${#variants[@]} -gt 0 ]] || variants=(default opt=extended spin=off arena=off mem-pattern=off prepack=off)
[[ -n "${NOBUILD:-}" ]] || go build -o "$BIN" ./cmd/vlmrun
rm -rf "$OUT"; mkdir -p "$OUT"
echo "before: $(cat /proc/loadavg)" | tee "$OUT/load.txt" >&2
for r in $(seq "$ROUNDS"); do
  for i in "${!variants[@]}"; do
    v=${variants[$i]}
    echo "round $r variant $i ($v): load $(cut -d' ' -f1 /proc/loadavg)" >&2
    if [[ $v == --* ]]; then read -r -a vf <<< "$v"; else vf=(--ort-options "$v"); fi
    # shellcheck disable=SC2086
    "$BIN" bench --model "$MODEL" --dtype "$DTYPE" --threads "$THREADS" "${vf[@]}" -n "$RUNS" \
      --warmup "$WARMUP" --max-new-tokens "$NEW" --no-baseline --prune none --no-vision-flops --json $EXTRA \
      "$IMAGE" > "$OUT/$i.$r.json" 2>"$OUT/$i.$r.err"
  done
done
echo "after: $(cat /proc/loadavg)" | tee -a "$OUT/load.txt" >&2
/usr/bin/python3 - "$OUT" "${variants[@]}" <<'PY'
import glob, json, os, statistics, sys
out, variants = sys.argv[1], sys.argv[2:]
keys = [("session creation (ms)", None), ("vision encode (ms)", "encode_ms"), ("prefill (ms)", "prefill_ms"),
        ("decode (tokens/s)", "decode_tokens_per_s"), ("end to end (ms)", "total_ms"), ("peak RSS (GiB)", "rss")]
def recs(i):
    rs = []
    for p in glob.glob(os.path.join(out, f"{i}.*.json")):
        j = json.load(open(p)); x = j["rows"][0]
        rec = {k: x[k]["median"] for _, k in keys if k not in (None, "rss")}
        rec[None] = j["open"]["total_ms"] + j["first_run_session_open_ms"]
        rec["rss"] = j["peak_rss_bytes"]
        rs.append(rec)
    return rs
data = [recs(i) for i in range(len(variants))]
def val(i, k):
    xs = [r[k] for r in data[i]]
    return max(xs) / 2**30 if k == "rss" else statistics.median(xs)
print("| stage | " + " | ".join(f"`{v}`" for v in variants) + " | " +
      " | ".join(f"`{v}` / `{variants[0]}`" for v in variants[1:]) + " |")
print("|---|" + "---|" * (2 * len(variants) - 1))
for label, k in keys:
    vs = [val(i, k) for i in range(len(variants))]
    fmt = lambda v: f"{v:.2f}" if k == "rss" else (f"{v:.1f}" if v < 100 else f"{v:.0f}")
    print(f"| {label} | " + " | ".join(fmt(v) for v in vs) + " | " +
          " | ".join(f"{v / vs[0]:.3f}×" if vs[0] else "-" for v in vs[1:]) + " |")
print(f"\n{len(data[0])} rounds × {os.environ.get('RUNS', '3')} measured runs per process; medians of per-process medians, "
      "largest peak RSS; " + open(os.path.join(out, "load.txt")).read().replace("\n", "; "))
PY
