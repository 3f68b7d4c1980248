#!/usr/bin/env bash
# e2e: the bridge under SIGKILL — the compiled `agent-runner bridge` is killed 20 times at random
# points while 1,000 notifications flow to loopback Matrix and webhook stubs; afterwards every one
# is delivered in creation order, none twice on Matrix (transaction ids) nor at a webhook receiver
# that honours Idempotency-Key (the soak prints how many a receiver ignoring it would have seen),
# and a command from a chat or user that is not allowed was never executed. No Debian packages
# needed (stubs are node:http servers); about 1.5 min.
# Sizes: SOAK_N (default 1000), SOAK_KILLS (default 20). Expects the tree built (`npx tsc -b`).
set -euo pipefail
cd "$(dirname "$0")/../.."
[ -f packages/cli/dist/bin.js ] && [ -f packages/bridge/dist/daemon.js ] || npx tsc -b
npx tap --disable-coverage --timeout 300 packages/bridge/e2e/soak.test.ts
