#!/usr/bin/env bash
# The dtype matrix on the realistic-size SmolVLM folder: transformers.js
# 4.3.1 and vlmrun (and vlmrun on a second ONNX Runtime library, ORT2) for
# every dtype, one process per runner × dtype × round, rounds interleaved
# (round 1 runs every cell once, then round 2, ...) so that a shared
# machine's drift hits every cell alike. Each process does WARMUP warm-up
# runs and one measured run; the table gives medians over rounds per stage,
# the largest peak RSS, and vlmrun / transformers.js ratios.
#
# Usage: scripts/dtype-matrix.sh [DTYPE...]   (default: fp32 fp16 q8 q4)
# Environment: ROUNDS [3] WARMUP [1] NEW [32] THREADS [2]
#   MODEL [build/smolvlm-256m-random-nosplit] IMAGE [build/bench-images/tex512.png]
#   ORT2 [onnxruntime-node's libonnxruntime.so.1; "" to skip] OUT [build/dtype-matrix]
# Needs the folders of scripts/compare-tjs.sh (run it once) and the variants
# of scripts/twins/realistic_dtypes.py.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3} WARMUP=${WARMUP:-1} NEW=${NEW:-32} THREADS=${THREADS:-2}
MODEL=${MODEL:-build/smolvlm-256m-random-nosplit} IMAGE=${IMAGE:-build/bench-images/tex512.png}
OUT=${OUT:-build/dtype-matrix}
ORT2=${ORT2-$PWD/scripts/transformersjs-ref/node_modules/onnxruntime-node/bin/napi-v6/linux/$(uname -m | sed 's/x86_64/x64/;s/aarch64/arm64/')/libonnxruntime.so.1}
dtypes=("$@"); [[ ${#dtypes[@]} -gt 0 ]] || dtypes=(fp32 fp16 q8 q4)
bin=build/compare/vlmrun
go build -o "$bin" ./cmd/vlmrun
mkdir -p "$OUT"
uptime >&2
for r in $(seq "$ROUNDS"); do
  for d in "${dtypes[@]}"; do
    echo "round $r $d: $(cut -d' ' -f1 /proc/loadavg)" >&2
    node scripts/transformersjs-ref/bench.js "$MODEL" "$IMAGE" --threads "$THREADS" --warmup "$WARMUP" --runs 1 \
      --max-new-tokens "$NEW" --dtype "$d" > "$OUT/tjs.$d.$r.json"
    v=("$bin" bench --model "$MODEL" --dtype "$d" --threads "$THREADS" -n 1 --warmup "$WARMUP" --max-new-tokens "$NEW"
       --no-baseline --prune none --no-vision-flops --json "$IMAGE")
    "${v[@]}" > "$OUT/vlmrun.$d.$r.json" 2>/dev/null
    [[ -z "$ORT2" ]] || "${v[@]}" --ort-lib "$ORT2" > "$OUT/vlmrun-ort2.$d.$r.json" 2>/dev/null
  done
done
uptime >&2
/usr/bin/python3 - "$OUT" "${dtypes[@]}" <<'PY'
import glob, json, os, statistics, sys
out, dtypes = sys.argv[1], sys.argv[2:]
keys = [("vision encode (ms)", "encode_ms"), ("prefill (ms)", "prefill_ms"), ("decode (tokens/s)", "decode_tokens_per_s"),
        ("end to end (ms)", "total_ms")]
def load(runner, d):
    recs = []
    for p in sorted(glob.glob(os.path.join(out, f"{runner}.{d}.*.json"))):
        j = json.load(open(p))
        if runner == "tjs":
            m = j["median"]; rec = {k: m[k] for _, k in keys}; rec["rss"] = j["peak_rss_bytes"]; rec["ort"] = j["onnxruntime_node"]
        else:
            x = j["rows"][0]; rec = {k: x[k]["median"] for _, k in keys}; rec["rss"] = j["peak_rss_bytes"]; rec["ort"] = j["env"]["ort_version"]
        recs.append(rec)
    return recs
runners = [r for r in ("tjs", "vlmrun", "vlmrun-ort2") if glob.glob(os.path.join(out, f"{r}.*.json"))]
names = {"tjs": "transformers.js", "vlmrun": "vlmrun", "vlmrun-ort2": "vlmrun (ORT2)"}
print(f"| dtype | stage | " + " | ".join(names[r] for r in runners) + " | " + " | ".join(f"{names[r]} / tjs" for r in runners[1:]) + " |")
print("|---|---|" + "---|" * (2 * len(runners) - 1))
for d in dtypes:
    data = {r: load(r, d) for r in runners}
    if not all(data.values()):
        continue
    for label, k in keys + [("peak RSS (GiB)", "rss")]:
        vals = {}
        for r in runners:
            xs = [x[k] for x in data[r]]
            vals[r] = max(xs) / 2**30 if k == "rss" else statistics.median(xs)
        fmt = lambda v: f"{v:.2f}" if k == "rss" else (f"{v:.1f}" if v < 100 else f"{v:.0f}")
        ratio = lambda a, b: f"{a / b:.2f}×" if b else "-"
        print(f"| {d} | {label} | " + " | ".join(fmt(vals[r]) for r in runners) + " | " +
              " | ".join(ratio(vals[r], vals["tjs"]) for r in runners[1:]) + " |")
print()
print("ORT versions: " + ", ".join(f"{names[r]} {load(r, dtypes[0])[0]['ort']}" for r in runners) +
      f"; {len(load('tjs', dtypes[0]))} rounds")
PY
