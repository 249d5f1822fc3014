#!/usr/bin/env bash
# setup-openai-client.sh installs the official OpenAI Node client (openai
# 4.104.0, as package-lock.json pins it) into scripts/openai-client/node_modules
# (ignored by git), from the npm registry only, for
# server/openai_client_test.go. Idempotent: does nothing when that version is
# already in place.
set -euo pipefail

cd "$(dirname "$0")/openai-client"

if ! command -v npm >/dev/null 2>&1; then
  echo "setup-openai-client: npm not found; install Node.js (>= 18) and npm (e.g. apt-get install nodejs npm)" >&2
  exit 1
fi
check() {
  node -e 'const v = JSON.parse(require("fs").readFileSync("node_modules/openai/package.json", "utf8")).version; if (v !== "4.104.0") throw new Error("openai " + v + ", want 4.104.0");' 2>/dev/null
}
if check; then
  echo "setup-openai-client: openai 4.104.0 already installed"
  exit 0
fi
npm ci --no-audit --no-fund --ignore-scripts --fetch-timeout=120000 --fetch-retries=4
check
echo "setup-openai-client: installed openai 4.104.0 in $(pwd)/node_modules"
