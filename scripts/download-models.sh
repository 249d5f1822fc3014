#!/usr/bin/env bash
# download-models.sh fetches the ONNX exports of the real model families
# vlmrun supports, for users with internet access (never used by the tests,
# which run on the twin folders under models/smolvlm/testdata):
#
#   smolvlm    HuggingFaceTB/SmolVLM-256M-Instruct  (model_type idefics3)
#   florence2  onnx-community/Florence-2-base-ft    (model_type florence2)
#   llava      llava-hf/llava-interleave-qwen-0.5b-hf (model_type llava)
#   qwen2vl    onnx-community/Qwen2-VL-2B-Instruct  (model_type qwen2_vl)
#   llavaonevision llava-hf/llava-onevision-qwen2-0.5b-ov-hf (model_type llava_onevision)
#
# Usage: scripts/download-models.sh [--dtype DTYPE] [--dest DIR] [smolvlm|florence2|llava|qwen2vl|llavaonevision|all]...
#
# Only the ONNX files of the chosen dtype are fetched (fp32 | fp16 | q8 | int8 |
# uint8 | q4 | q4f16 | bnb4; default q4 for SmolVLM's decoder, which is what
# most users want on a CPU, and the same dtype for every file), plus the JSON
# configuration and tokenizer files. Files already present are kept. Set
# HF_TOKEN to send a token; HF_ENDPOINT to use a mirror.
#
# DIR defaults to $VLMRUN_MODELS, else ~/.cache/vlmrun (outside the repository).
# Then: vlmrun caption --model DIR/SmolVLM-256M-Instruct --dtype DTYPE IMAGE
#       vlmrun caption --model DIR/Florence-2-base-ft --dtype DTYPE --prompt "<DETAILED_CAPTION>" IMAGE
#       vlmrun caption --model DIR/llava-interleave-qwen-0.5b-hf --dtype DTYPE \
#           --prompt $'<|im_start|>user <image>\nDescribe the image.<|im_end|><|im_start|>assistant\n' IMAGE
#       vlmrun caption --model DIR/Qwen2-VL-2B-Instruct --dtype DTYPE --max-image-tokens 256 IMAGE
#       vlmrun caption --model DIR/llava-onevision-qwen2-0.5b-ov-hf --dtype DTYPE IMAGE
set -euo pipefail

dtype=q4
dest="${VLMRUN_MODELS:-$HOME/.cache/vlmrun}"
want=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --dtype) dtype="$2"; shift 2 ;;
    --dtype=*) dtype="${1#*=}"; shift ;;
    --dest) dest="$2"; shift 2 ;;
    --dest=*) dest="${1#*=}"; shift ;;
    -h|--help) sed -n "2,26p" "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    smolvlm|florence2|llava|qwen2vl|llavaonevision) want+=("$1"); shift ;;
    all) want+=(smolvlm florence2 llava qwen2vl llavaonevision); shift ;;
    *) echo "download-models: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
[[ ${#want[@]} -gt 0 ]] || want=(smolvlm)

declare -A SUFFIX=([fp32]="" [fp16]=_fp16 [q8]=_quantized [int8]=_int8 [uint8]=_uint8 [q4]=_q4 [q4f16]=_q4f16 [bnb4]=_bnb4)
if [[ ! -v "SUFFIX[$dtype]" ]]; then
  echo "download-models: unknown dtype $dtype (want ${!SUFFIX[*]})" >&2
  exit 2
fi
sfx="${SUFFIX[$dtype]}"
endpoint="${HF_ENDPOINT:-https://huggingface.co}"
auth=()
[[ -n "${HF_TOKEN:-}" ]] && auth=(-H "Authorization: Bearer $HF_TOKEN")

# fetch REPO FILE [optional]: downloads REPO's FILE into $dest/<name>/FILE.
fetch() {
  local repo="$1" file="$2" optional="${3:-}"
  local out="$dest/${repo#*/}/$file"
  if [[ -s "$out" ]]; then
    echo "  have $out"
    return 0
  fi
  mkdir -p "$(dirname "$out")"
  if curl -fL --retry 3 -sS "${auth[@]}" -o "$out.part" "$endpoint/$repo/resolve/main/$file"; then
    mv "$out.part" "$out"
    echo "  got  $out"
  else
    rm -f "$out.part"
    if [[ -z "$optional" ]]; then
      echo "download-models: failed to fetch $repo/$file" >&2
      return 1
    fi
  fi
}

for m in "${want[@]}"; do
  case "$m" in
    smolvlm)
      repo=HuggingFaceTB/SmolVLM-256M-Instruct
      meta=(config.json generation_config.json preprocessor_config.json processor_config.json
            tokenizer.json tokenizer_config.json special_tokens_map.json)
      onnx=(vision_encoder embed_tokens decoder_model_merged) ;;
    florence2)
      repo=onnx-community/Florence-2-base-ft
      meta=(config.json generation_config.json preprocessor_config.json
            tokenizer.json tokenizer_config.json special_tokens_map.json)
      onnx=(vision_encoder embed_tokens encoder_model decoder_model_merged) ;;
    llava)
      repo=llava-hf/llava-interleave-qwen-0.5b-hf
      meta=(config.json generation_config.json preprocessor_config.json processor_config.json
            tokenizer.json tokenizer_config.json special_tokens_map.json)
      onnx=(vision_encoder embed_tokens decoder_model_merged) ;;
    qwen2vl)
      repo=onnx-community/Qwen2-VL-2B-Instruct
      meta=(config.json generation_config.json preprocessor_config.json
            tokenizer.json tokenizer_config.json)
      onnx=(vision_encoder embed_tokens decoder_model_merged) ;;
    llavaonevision)
      repo=llava-hf/llava-onevision-qwen2-0.5b-ov-hf
      meta=(config.json generation_config.json preprocessor_config.json processor_config.json
            tokenizer.json tokenizer_config.json special_tokens_map.json)
      onnx=(vision_encoder embed_tokens decoder_model_merged) ;;
  esac
  echo "download-models: $repo ($dtype) into $dest/${repo#*/}"
  for f in "${meta[@]}"; do fetch "$repo" "$f"; done
  fetch "$repo" chat_template.json optional
  for f in "${onnx[@]}"; do
    fetch "$repo" "onnx/$f$sfx.onnx"
    fetch "$repo" "onnx/$f$sfx.onnx_data" optional
  done
done
