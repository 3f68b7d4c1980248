#!/usr/bin/env bash
# Sets up a checkout on a fresh Debian/Raspberry Pi OS machine: the build tools native modules
# need (better-sqlite3 and node-pty compile from source), then `npm ci`, which also builds
# every package (`prepare` runs `tsc -b`). Idempotent; safe to rerun.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
for cmd in git python3 make g++; do command -v "$cmd" >/dev/null 2>&1 || need+=("$cmd"); done
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    pkgs=()
    for c in "${need[@]}"; do case "$c" in g++) pkgs+=(g++) ;; *) pkgs+=("$c") ;; esac; done
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${pkgs[@]}" >/dev/null
  else
    echo "bootstrap: missing ${need[*]}; install them: sudo apt-get install -y ${need[*]}" >&2
    exit 69
  fi
fi

if ! command -v node >/dev/null 2>&1; then
  echo "bootstrap: node is not installed; agent-runner needs Node.js >= 20.19 (see RUNBOOK.md, 'Install')" >&2
  exit 69
fi
if ! node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)'; then
  echo "bootstrap: node $(node --version) is too old; agent-runner needs Node.js >= 20.19 (see RUNBOOK.md, 'Install')" >&2
  exit 69
fi

npm ci --no-audit --no-fund
# tap compiles its plugin set (.taprc `plugin:`) into node_modules once, here: left to the first
# `tap` run, two suites starting together (.ci/run runs the soak alongside the unit tests) would
# both rebuild it and break it.
npx tap build
