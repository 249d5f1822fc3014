#!/usr/bin/env bash
# Times vlmrun and transformers.js 4.3.1 in the same run on the same
# random-weight model folder with SmolVLM-256M-Instruct's real dimensions
# and files (scripts/twins/realistic.py), per stage and peak RSS, and prints
# the ratios vlmrun / transformers.js (markdown on stdout; JSON kept in
# OUT). Also times vlmrun's tile pruning (bench --tile-sweep off,on) on the
# split cases, and last-position logits (num_logits_to_keep) against
# all-position logits on the same weights.
#
# Usage: scripts/compare-tjs.sh [--dtype D] [CASE...]   (default: nosplit512 split2048 half2048)
#   --dtype D   the file variant both runners load: fp32 (default), fp16, q8,
#               q4, or per file ("vision_encoder=q8,decoder_model_merged=q4");
#               missing variants are written by scripts/twins/realistic_dtypes.py;
#               reports go to OUT/D
#   nosplit512  512×512 textured image, do_image_splitting=false (64 visual tokens)
#   split2048   2048×2048 textured image, 4×4 tiles + global (1,088 visual tokens)
#   half2048    2048×2048, the right half a uniform background
#   logits      prefill of 1,147 tokens with all-position vs last-position logits
#               (vlmrun, go test -bench PrefillLogits; same weights, MODEL-logits-to-keep)
#   encbatch    vision encoder on 4 tiles in calls of 1, 2 and 4 tiles (go test -bench EncoderBatch)
# Environment [defaults]: THREADS [2] RUNS [3] WARMUP [1] NEW [32] (new tokens)
#   MODEL [build/smolvlm-256m-random] OUT [build/compare]
# Each runner runs in its own process per case (peak RSS is per process);
# transformers.js first, then vlmrun, back to back. Needs node and
# scripts/setup-transformersjs.sh, /usr/bin/python3 with numpy and onnx.
set -euo pipefail
cd "$(dirname "$0")/.."
THREADS="${THREADS:-2}" RUNS="${RUNS:-3}" WARMUP="${WARMUP:-1}" NEW="${NEW:-32}"
MODEL="${MODEL:-build/smolvlm-256m-random}" OUT="${OUT:-build/compare}"
dtype=fp32
if [[ "${1:-}" == --dtype ]]; then dtype=${2:?--dtype needs a value}; shift 2; fi
[[ "$dtype" == fp32 ]] || OUT="$OUT/$dtype"
cases=("$@")
[[ ${#cases[@]} -gt 0 ]] || cases=(nosplit512 split2048 half2048)
py=/usr/bin/python3
[[ -f "$MODEL/onnx/decoder_model_merged.onnx" ]] || "$py" scripts/twins/realistic.py "$MODEL" >&2
for d in fp16 q8 q4; do
  sfx=$d; [[ $d == q8 ]] && sfx=quantized
  if [[ "$dtype" == *"$d"* && ! -f "$MODEL/onnx/decoder_model_merged_$sfx.onnx" ]]; then
    "$py" scripts/twins/realistic_dtypes.py "$MODEL" --dtypes "$d" >&2
  fi
done
imgs=build/bench-images
[[ -f "$imgs/half2048.png" ]] || "$py" scripts/twins/bench_images.py "$imgs" >&2
# the unsplit variant: the same files, do_image_splitting false
ns="$MODEL-nosplit"
if [[ ! -f "$ns/preprocessor_config.json" ]]; then
  mkdir -p "$ns"
  for f in "$MODEL"/*; do [[ "$(basename "$f")" == preprocessor_config.json ]] || ln -sfn "$(realpath "$f")" "$ns/"; done
  sed 's/"do_image_splitting": true/"do_image_splitting": false/' "$MODEL/preprocessor_config.json" > "$ns/preprocessor_config.json"
fi
if [[ -z "${VLMRUN_ORT_LIB:-}" ]]; then ./scripts/setup-ort.sh >/dev/null; fi
mkdir -p "$OUT"
bin=build/compare/vlmrun
go build -o "$bin" ./cmd/vlmrun
tjs=(node scripts/transformersjs-ref/bench.js)
common=(--dtype "$dtype" --threads "$THREADS" -n "$RUNS" --warmup "$WARMUP" --max-new-tokens "$NEW" --no-baseline --prune none --no-vision-flops)

run() { # name, command...
  local name=$1; shift
  echo "compare: $*" >&2
  "$@" > "$OUT/$name.json"
}
for c in "${cases[@]}"; do
  case "$c" in
    nosplit512)
      run "$c.tjs" "${tjs[@]}" "$ns" "$imgs/tex512.png" --threads "$THREADS" --warmup "$WARMUP" --runs "$RUNS" --max-new-tokens "$NEW" --dtype "$dtype"
      run "$c.vlmrun" "$bin" bench --model "$ns" "${common[@]}" --json "$imgs/tex512.png" ;;
    split2048|half2048)
      img=$imgs/tex2048.png; [[ "$c" == half2048 ]] && img=$imgs/half2048.png
      run "$c.tjs" "${tjs[@]}" "$MODEL" "$img" --threads "$THREADS" --warmup "$WARMUP" --runs "$RUNS" --max-new-tokens "$NEW" --dtype "$dtype"
      run "$c.vlmrun" "$bin" bench --model "$MODEL" "${common[@]}" --tile-sweep off,on --json "$img" ;;
    logits)
      lk="$MODEL-logits-to-keep"
      if [[ ! -f "$lk/onnx/decoder_model_merged.onnx" ]]; then
        "$py" scripts/twins/realistic.py --logits-to-keep --decoder-only "$lk" >&2
        for f in vision_encoder embed_tokens; do ln -sfn "$(realpath "$MODEL/onnx/$f.onnx")" "$lk/onnx/"; done
      fi
      echo "compare: go test -run '^\$' -bench PrefillLogits -benchtime 2x -count 3 ./bench" >&2
      VLMRUN_SMOLVLM_MODEL="$(realpath "$MODEL")" VLMRUN_BENCH_THREADS="$THREADS" \
        go test -run '^$' -bench PrefillLogits -benchtime 2x -count 3 ./bench > "$OUT/logits.txt" ;;
    encbatch)
      echo "compare: go test -run '^\$' -bench EncoderBatch -benchtime 1x -count 3 ./bench" >&2
      VLMRUN_SMOLVLM_MODEL="$(realpath "$MODEL")" VLMRUN_BENCH_THREADS="$THREADS" \
        go test -run '^$' -bench EncoderBatch -benchtime 1x -count 3 ./bench > "$OUT/encbatch.txt" ;;
    *) echo "compare: unknown case $c" >&2; exit 2 ;;
  esac
done
node scripts/transformersjs-ref/compare.js "$OUT" "${cases[@]}"
