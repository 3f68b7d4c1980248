#!/usr/bin/env bash
# e2e: the accelerated "leave it for a week" soak (issue 14): the whole suite installed with
# `agent-runner install --system --bridge --watchdog --monitor` under a real systemd 252 (private
# PID + mount namespaces, scripts/systemd-sandbox.sh), a fake Claude CLI replaying real
# stream-json, a seeded schedule of agent and infrastructure faults, loopback receivers, and a
# fault-free control project alongside; ~8 minutes on a 2-core machine. The seed is printed;
# rerun one with SOAK_SEED=N. Needs root; installs what it needs. Expects the tree built
# (`npx tsc -b`, as .ci/run does): the fake CLI and the driver run from packages/testkit/dist.
set -euo pipefail
cd "$(dirname "$0")/../.."
need=()
for c in systemctl journalctl nsenter unshare setpriv git pgrep; do command -v "$c" >/dev/null 2>&1 || need+=("$c"); done
if [ ${#need[@]} -gt 0 ] || [ ! -x /lib/systemd/systemd ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq systemd dbus util-linux git procps >/dev/null
fi
[ -f packages/cli/dist/bin.js ] && [ -f packages/testkit/dist/soak/run.js ] || npx tsc -b
# Run by node, not by tap's runner: .ci/run runs this alongside the unit suite, and the runner
# empties .tap/coverage when it starts and reports on it when it ends, i.e. on the unit suite's
# files (a report of half of them once failed the coverage floor here). The loaders are those
# of .taprc's node-arg; TAP_TIMEOUT is the runner's --timeout. The file prints the summary line
# (`# { total: … }`) that .ci/run counts.
TAP_TIMEOUT=900 exec node --enable-source-maps --import=tsx --import=./packages/testkit/src/built-code.mjs packages/cli/e2e/soak.test.ts
