#!/usr/bin/env bash
# A real systemd (252 on Debian 12) for end-to-end tests: PID 1 of private PID and mount
# namespaces, on a throw-away overlay of /, with journald, logind, linger and user managers.
# Nothing written inside (units in /etc, users, the journal, /tmp, /var) reaches the host.
# Needs root. Adapted from shared/recipes/systemd-sandbox.sh.
#
#   scripts/systemd-sandbox.sh start [DIR...]      boot; DIR(s) bind-mounted read-write at the
#                                                  same path inside; prints the sandbox PID
#   scripts/systemd-sandbox.sh exec PID CMD...     run CMD inside, as root
#   scripts/systemd-sandbox.sh user PID USER CMD...  run CMD inside as USER, with the
#                                                  environment of a login (HOME, XDG_RUNTIME_DIR)
#   scripts/systemd-sandbox.sh stop PID            kill the sandbox (every process in it dies)
#
# Pitfalls (found while building the recipe): without a private /tmp, systemd-tmpfiles wipes
# the host's /tmp; without the overlay, systemd-sysusers edits the host's /etc; `container=`
# makes systemd skip units that touch the real machine; mounts other than / are not in the
# overlay, so a checkout elsewhere must be passed to `start`.
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
  mount -t tmpfs tmpfs "$root/tmp"
  for d in "$@"; do mkdir -p "$root$d"; mount --bind "$d" "$root$d"; done
  mkdir -p "$root/run/systemd/system"
  cd "$root"; mkdir -p oldroot; pivot_root . oldroot; umount -l /oldroot
  export container=agent-runner-sandbox
  exec /lib/systemd/systemd --system --log-target=console --unit=basic.target
}

case "${1:-}" in
  start)
    shift
    log=$(mktemp /tmp/sdsb-log.XXXXXX)
    setsid unshare --pid --fork --mount --propagation private "$0" __boot "$@" >"$log" 2>&1 < /dev/null &
    upid=$!
    for _ in $(seq 1 150); do
      pid=$(pgrep -P "$upid" -f 'systemd --system' || true)
      [ -n "$pid" ] && nsenter -t "$pid" -m -p -- systemctl is-system-running --wait >/dev/null 2>&1 && { echo "$pid"; exit 0; }
      sleep 0.2
    done
    echo "systemd sandbox did not come up; log: $log" >&2; exit 1 ;;
  __boot) shift; boot "$@" ;;
  exec) pid=$2; shift 2; exec nsenter -t "$pid" -m -p -- "$@" ;;
  user)
    pid=$2; user=$3; shift 3
    uid=$(nsenter -t "$pid" -m -p -- id -u "$user")
    home=$(nsenter -t "$pid" -m -p -- getent passwd "$user" | cut -d: -f6)
    exec nsenter -t "$pid" -m -p -- setpriv --reuid="$uid" --regid="$(nsenter -t "$pid" -m -p -- id -g "$user")" --init-groups \
      env -i HOME="$home" USER="$user" LOGNAME="$user" PATH=/usr/local/bin:/usr/bin:/bin \
      XDG_RUNTIME_DIR="/run/user/$uid" LANG=C.UTF-8 "$@" ;;
  stop) kill -9 "$2" ;;
  *) echo "usage: $0 start [DIR...] | exec PID CMD... | user PID USER CMD... | stop PID" >&2; exit 2 ;;
esac
