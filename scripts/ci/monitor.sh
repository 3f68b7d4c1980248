#!/usr/bin/env bash
# e2e: the monitor against real peers — an OpenSSH server on 127.0.0.1 (remote polling,
# host key refusal, blips/give-up when sshd dies, remote auto-stop), promtool and a real
# Prometheus on /metrics and on examples/prometheus/ (rules, config, dashboard), headless
# Chromium on the progress page, a full tmpfs as the state directory. Needs root for sshd's
# privilege separation directory and the tmpfs mount.
# Expects the tree built (`npx tsc -b`).
set -euo pipefail
cd "$(dirname "$0")/../.."
need=()
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v ssh-keygen >/dev/null 2>&1 || need+=(openssh-client)
command -v promtool >/dev/null 2>&1 && command -v prometheus >/dev/null 2>&1 || need+=(prometheus)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
if [ "${#need[@]}" -gt 0 ]; then
  apt-get update -qq
  # policy-rc.d 101: the packages' own services (sshd on :22, prometheus on :9090) are not started.
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  rm -f /usr/sbin/policy-rc.d
fi
mkdir -p /run/sshd
[ -f packages/cli/dist/bin.js ] || npx tsc -b
npx tap --disable-coverage --jobs=2 --timeout 240 packages/monitor/e2e/remote.test.ts packages/monitor/e2e/http-tools.test.ts packages/monitor/e2e/prometheus.test.ts packages/monitor/e2e/disk-full.test.ts
