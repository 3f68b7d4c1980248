#!/usr/bin/env bash
# e2e: agent-runner's units under a real systemd 252 (scripts/systemd-sandbox.sh boots it in
# private PID + mount namespaces on an overlay of /). Needs root; installs what it needs.
set -euo pipefail
cd "$(dirname "$0")/../.."
need=()
for c in systemctl journalctl loginctl nsenter unshare setpriv git; do command -v "$c" >/dev/null 2>&1 || need+=("$c"); done
if [ ${#need[@]} -gt 0 ] || [ ! -x /lib/systemd/systemd ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq systemd dbus util-linux git >/dev/null
fi
[ -f packages/cli/dist/bin.js ] || npx tsc -b
exec npx tap --timeout=600 packages/cli/e2e/systemd.test.ts
