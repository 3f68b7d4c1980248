#!/usr/bin/env bash
# e2e: `watch` in a real terminal (tmux at 80x24 and 200x50, read back with capture-pane).
set -euo pipefail
cd "$(dirname "$0")/../.."
need=()
for c in tmux git; do command -v "$c" >/dev/null 2>&1 || need+=("$c"); done
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
[ -f packages/cli/dist/bin.js ] || npx tsc -b
exec npx tap --timeout=300 packages/cli/e2e/watch-tmux.test.ts
