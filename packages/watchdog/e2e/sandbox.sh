#!/usr/bin/env bash
# Copied from the systemd-sandbox recipe so CI does not depend on the shared folder.
# Boot a real systemd (system manager + journald + logind + user managers via
# linger) inside private PID and mount namespaces, on a throw-away overlay of
# the root filesystem. Nothing it writes (units in /etc, users, journal, /tmp)
# reaches the host. Needs root. Verified on Debian 12 (systemd 252).
#
#   systemd-sandbox.sh start [DIR...]   boot; bind DIR(s) read-write at the same
#                                       path inside; prints the sandbox PID
#   systemd-sandbox.sh exec PID CMD...  run CMD inside (as root)
#   systemd-sandbox.sh stop PID         kill the sandbox (all its processes die)
set -euo pipefail

boot() {  # runs inside the new namespaces
  local root rw d
  rw=$(mktemp -d /tmp/sdsb-rw.XXXXXX); root=$(mktemp -d /tmp/sdsb-root.XXXXXX)
  mount -t tmpfs tmpfs "$rw"; mkdir -p "$rw/upper" "$rw/work"
  mount -t overlay overlay -o "lowerdir=/,upperdir=$rw/upper,workdir=$rw/work" "$root"
  mount -t proc proc "$root/proc"
  mount --rbind /sys "$root/sys"
  mount --rbind /dev "$root/dev"
  mount -t tmpfs tmpfs "$root/run"
  mount -t tmpfs tmpfs "$root/tmp"       # tmpfiles-setup would otherwise wipe the host's /tmp
  for d in "$@"; do mkdir -p "$root$d"; mount --bind "$d" "$root$d"; done
  mkdir -p "$root/run/systemd/system"    # "booted with systemd" marker
  cd "$root"; mkdir -p oldroot; pivot_root . oldroot; umount -l /oldroot
  export container=agent-runner-sandbox  # container mode: skips units that touch the real machine
  exec /lib/systemd/systemd --system --log-target=console --unit=basic.target
}

case "${1:-}" in
  start)
    shift
    log=$(mktemp /tmp/sdsb-log.XXXXXX)
    setsid unshare --pid --fork --mount --propagation private "$0" __boot "$@" >"$log" 2>&1 < /dev/null &
    upid=$!
    for _ in $(seq 1 100); do   # the sandbox's PID 1 is the child of unshare
      pid=$(pgrep -P "$upid" -f 'systemd --system' || true)
      [ -n "$pid" ] && nsenter -t "$pid" -m -p -- systemctl is-system-running --wait >/dev/null 2>&1 && { echo "$pid"; exit 0; }
      sleep 0.2
    done
    echo "systemd sandbox did not come up; log: $log" >&2; exit 1 ;;
  __boot) shift; boot "$@" ;;
  exec) pid=$2; shift 2; exec nsenter -t "$pid" -m -p -- "$@" ;;
  stop) kill -9 "$2" ;;
  *) echo "usage: $0 start [DIR...] | exec PID CMD... | stop PID" >&2; exit 2 ;;
esac
