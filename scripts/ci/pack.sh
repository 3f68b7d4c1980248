#!/usr/bin/env bash
# e2e: the npm tarball users install. Packs the CLI with every internal package bundled
# (scripts/pack-cli.sh), installs it globally into a temp prefix the way users do
# (`npm install -g`, which compiles better-sqlite3 and node-pty: needs python3, make, g++;
# --prefer-offline uses the npm cache), checks `--version` and `doctor`, then exercises
# `agent-runner upgrade` and its rollback against local tarballs (never the network).
set -euo pipefail
cd "$(dirname "$0")/../.."
need=()
for c in python3 make g++ git; do command -v "$c" >/dev/null 2>&1 || need+=("$c"); done
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 make g++ git >/dev/null
fi
[ -f packages/cli/dist/bin.js ] || npx tsc -b
exec npx tap --timeout=1500 packages/cli/e2e/pack.test.ts
