#!/usr/bin/env bash
# e2e: the codex and gemini adapters against the REAL Codex CLI and Gemini CLI, offline,
# pointed at the local API stubs of packages/testkit (Responses API, Gemini API).
# The CLIs are heavy and optional to the product, so they are NOT root dependencies: they
# are installed (idempotently, pinned) into .cache/agent-clis without touching
# package.json / package-lock.json, and the tests find them through AR_AGENT_CLIS_DIR.
# The tests run the build (packages/testkit/src/built-code.mjs): tsc -b first, incremental.
set -euo pipefail
cd "$(dirname "$0")/../.."
prefix="$PWD/.cache/agent-clis"
want_codex=0.169.0
want_gemini=0.61.0
have() { node -p "require('$prefix/node_modules/$1/package.json').version" 2>/dev/null || true; }
if [ "$(have @openai/codex)" != "$want_codex" ] || [ "$(have @google/gemini-cli)" != "$want_gemini" ]; then
  mkdir -p "$prefix"
  npm install --no-save --no-audit --no-fund --loglevel=error --prefix "$prefix" \
    "@openai/codex@$want_codex" "@google/gemini-cli@$want_gemini"
fi
command -v git >/dev/null 2>&1 || { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq git >/dev/null; }
export AR_AGENT_CLIS_DIR="$prefix/node_modules/.bin"
npx tsc -b
# Gemini CLI alone needs ~10 s to start on a busy 2-core machine: allow 6 min per file, two
# files at a time (the unit suite's four would starve the CLIs' start-up).
npx tap --disable-coverage --jobs=2 --timeout 360 packages/runner/e2e/*.test.ts
