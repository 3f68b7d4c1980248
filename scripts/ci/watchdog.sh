#!/usr/bin/env bash
# e2e: the watchdog under a real systemd (PID 1 of a private PID + mount namespace on an
# overlay of /, see scripts/systemd-sandbox.sh), running as an unprivileged service user: a
# frozen unit is healthy again within 90 s with the default settings; restarts, SIGKILLs that
# systemd answers, and stops get no heal action; the service user cannot restart any unit.
# Next to it, without systemd: heal latency with the default settings (frozen, hung).
# Needs root (namespaces). Expects the tree built (`npx tsc -b`, as .ci/run does).
set -euo pipefail
cd "$(dirname "$0")/../.."
need=()
command -v /lib/systemd/systemd >/dev/null 2>&1 || need+=(systemd)
command -v unshare >/dev/null 2>&1 && command -v nsenter >/dev/null 2>&1 || need+=(util-linux)
command -v pgrep >/dev/null 2>&1 || need+=(procps)
if [ "${#need[@]}" -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
[ -f packages/cli/dist/bin.js ] || npx tsc -b
npx tap --disable-coverage --jobs=2 --timeout=300 packages/watchdog/e2e/systemd.test.ts packages/watchdog/e2e/latency.test.ts
