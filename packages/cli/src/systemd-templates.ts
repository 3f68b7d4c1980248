/**
 * The systemd unit templates `agent-runner install` renders. `units/` at the repository root
 * holds the same text (kept identical by packages/cli/test/install-units.test.ts) for readers
 * and distro packagers; this copy ships inside the CLI because only `dist/` is packed.
 *
 * Template syntax (see {@link renderTemplate} in systemd-render.ts):
 * - `@NODE@`, `@CLI@`: absolute paths of node and of the CLI entry script.
 * - A line starting with `;system ` or `;user ` is kept (without the marker) only in that mode;
 *   `;` starts a comment in unit files, so the raw template is itself a valid unit.
 *
 * Per-project values (work dir, config path, User=, TimeoutStopSec=, PATH) live in a drop-in
 * `<unit>@<project>.<type>.d/50-agent-runner.conf`, so one template serves every project.
 */
import { SERVE_FINAL_EXITS } from '@agent-runner/core/errors';

const HEADER = `# Rendered by \`agent-runner install\`; per-project settings are in the drop-in
# <this unit>@<project>.*.d/50-agent-runner.conf. Local changes: \`systemctl edit\`.`;

/**
 * Directives every service of a project shares. Each says why it is there.
 */
const COMMON_UNIT = `# Agents and transports talk to remote APIs: start after the network is configured, but
# do not require it (an unreachable API is a transient error the daemons back off from).
After=network-online.target
Wants=network-online.target
# Stopping or restarting the project target (agent-runner@<project>.target) reaches this unit.
PartOf=agent-runner@%i.target
# No start rate limit: a unit that hits it is left "failed" until someone notices, the
# commonest complaint about every supervisor. RestartSec= spaces restarts instead, and the
# exits that must not repeat are excluded by RestartPreventExitStatus=.
StartLimitIntervalSec=0`;

const COMMON_SERVICE = `# notify: "active" only once the daemon has enrolled and written its first heartbeat
# (it sends READY=1), so nothing judges a unit that is still starting. systemd-notify, a child
# process, speaks the protocol: hence NotifyAccess=all.
Type=notify
NotifyAccess=all
# Start-up checks (git, prompt files, the ledger) run before READY=1; a slow SD card needs time.
TimeoutStartSec=120
# systemd watches every daemon: it pings WATCHDOG=1 from its own event loop every 15 s, so a
# frozen (SIGSTOP) or blocked daemon misses the deadline and is killed at once (no core dump,
# no grace: it cannot act on a signal anyway) and restarted, because a watchdog timeout is a
# failure for Restart=on-failure.
WatchdogSec=30
WatchdogSignal=SIGKILL
;system Environment=AGENT_RUNNER_MODE=system
;user Environment=AGENT_RUNNER_MODE=user
# Secrets (API keys, tokens) come from this optional root-readable file, never from the
# command line or the unit: KEY=VALUE lines, mode 0600.
;system EnvironmentFile=-/etc/agent-runner/%i.env
;user EnvironmentFile=-%h/.config/agent-runner/%i.env
# Journal: lines carry sd-daemon <N> priority prefixes (\`journalctl -p warning\` filters).
SyslogIdentifier=%p@%i
SyslogLevelPrefix=yes
# Between restarts: short, because the daemons back off from failing APIs and disks by
# themselves (a restart is a crash, a watchdog kill or a restart marker, exit 75); long enough
# that a daemon crashing at start costs a Pi little. systemd 252 has no per-exit-code delay.
RestartSec=5`;

/**
 * Hardening agents tolerate: they run git, compilers, package managers and their own CLI
 * under the service user's home, so the home stays writable (ProtectHome=no) and only the
 * OS is read-only. System mode only: in user units these need unprivileged user namespaces,
 * which some Pi/Debian kernels disable, and the unit would then fail to start.
 */
const HARDENING = `# Hardening agents tolerate (system units only; user units would need user namespaces):
# no setuid escalation (an agent must not sudo), a private /tmp, /usr /boot /etc read-only.
;system NoNewPrivileges=yes
;system PrivateTmp=yes
;system ProtectSystem=full
# The home stays writable: agents keep credentials and caches there (~/.claude, ~/.npm).
;system ProtectHome=no
;system ProtectKernelTunables=yes
;system ProtectKernelModules=yes
;system ProtectControlGroups=yes
;system RestrictSUIDSGID=yes
# State and logs: /var/lib/agent-runner/<project> and /var/log/agent-runner/<project>, created
# and chowned to User= by systemd, 0700 (exported as $STATE_DIRECTORY / $LOGS_DIRECTORY).
;system StateDirectory=agent-runner/%i
;system StateDirectoryMode=0700
;system LogsDirectory=agent-runner/%i
;system LogsDirectoryMode=0700`;

/**
 * node options of every daemon agent-runner starts (the units, `start` without units): a small
 * V8 heap (`--optimize-for-size`: 1 MB semi-spaces, a slower-growing old space) and `gc()`,
 * which each daemon's lifecycle runs after an idle heartbeat interval. Together they keep a
 * daemon that ran for weeks (a serve after thousands of rounds) as small as a fresh one
 * (bench/runner.mjs `rss`, the soak's RSS check).
 */
export const DAEMON_NODE_OPTIONS = ['--optimize-for-size', '--expose-gc'] as const;
const NODE = `@NODE@ ${DAEMON_NODE_OPTIONS.join(' ')}`;

/**
 * node options of the light daemons (bridge, watchdog, monitor), which wake every few seconds
 * for milliseconds of work: V8's interpreter only (`--max-opt=0`). With its optimising tiers
 * such a daemon grew by 11–13 % in its first 20 minutes (the long soak's monitors, 60 → 67 MiB,
 * all of it malloc memory, RssAnon, while the JS heap stayed flat: the optimising compilers'
 * work); interpreted, it is flat from the start and a few MiB smaller, for a CPU cost that a poll
 * every few seconds does not notice (bench/README.md "Suite memory").
 */
export const LIGHT_DAEMON_NODE_OPTIONS = [...DAEMON_NODE_OPTIONS, '--max-opt=0'] as const;
const LIGHT_NODE = `@NODE@ ${LIGHT_DAEMON_NODE_OPTIONS.join(' ')}`;

/** `agent-runner@.service`: the round runner. */
export const SERVE_TEMPLATE = `${HEADER}
# agent-runner@.service: the round runner (\`agent-runner serve\`) of project %i.
[Unit]
Description=agent-runner round runner (%i)
${COMMON_UNIT}

[Service]
${COMMON_SERVICE}
# A small V8 heap, and gc() for the daemon to run after an idle heartbeat interval: a serve
# that ran thousands of rounds idles as small as a fresh one (the same in every unit).
ExecStart=${NODE} @CLI@ serve
# Failures restart: a crash, a death by signal, a watchdog timeout, exit 75 (restart requested
# by its marker, or a SIGTERM of the watchdog's T2 while that marker is pending).
# Clean stops (max_rounds, stop request, .agent-done, SIGTERM) exit 0 and are never undone.
Restart=on-failure
# 69 = crash loop of the agent (with crash_loop.cooldown_s = 0), 77 = a bounded run
# (runtime.max_rounds) whose last round failed authentication, 78 = configuration broken:
# a restart cannot help.
RestartPreventExitStatus=${SERVE_FINAL_EXITS.join(' ')}
# 75 = restart requested: always restart it (on-failure covers it too; this is the contract).
RestartForceExitStatus=75
# SIGTERM goes to serve alone: the round in progress finishes (the agent, in its own process
# group, is not signalled) and every wait ends at once. Only when TimeoutStopSec= (set per
# project in the drop-in: round_timeout_s + kill_grace_s + margin) runs out does SIGKILL
# reach the whole cgroup. \`agent-runner kill\` sends SIGQUIT to serve to interrupt the round.
KillMode=mixed
KillSignal=SIGTERM
SendSIGKILL=yes
${HARDENING}

[Install]
WantedBy=agent-runner@%i.target
`;

/** Restart and stop policy shared by the bridge, watchdog and monitor units. */
const DAEMON_LIFECYCLE = `# Any failure restarts (75 included: its restart marker); 78 = configuration broken and
# 77 = refused (a remote host key the monitor will not trust) do not.
Restart=on-failure
RestartPreventExitStatus=77 78
RestartForceExitStatus=75
# SIGTERM to the daemon only: it finishes the step in flight; the cgroup is killed after.
KillMode=mixed
KillSignal=SIGTERM
TimeoutStopSec=60`;

/** `agent-runner-bridge@.service`: the notification dispatcher. */
export const BRIDGE_TEMPLATE = `${HEADER}
# agent-runner-bridge@.service: notifications out, operator commands in (\`agent-runner bridge\`).
[Unit]
Description=agent-runner bridge (%i)
${COMMON_UNIT}

[Service]
${COMMON_SERVICE}
ExecStart=${LIGHT_NODE} @CLI@ bridge
${DAEMON_LIFECYCLE}
${HARDENING}

[Install]
WantedBy=agent-runner@%i.target
`;

/** `agent-runner-watchdog@.service`: health probes and heal tiers, itself watched by systemd (WatchdogSec=). */
export const WATCHDOG_TEMPLATE = `${HEADER}
# agent-runner-watchdog@.service: judges and heals the project's units (\`agent-runner watchdog\`).
[Unit]
Description=agent-runner watchdog (%i)
${COMMON_UNIT}

[Service]
${COMMON_SERVICE}
ExecStart=${LIGHT_NODE} @CLI@ watchdog
${DAEMON_LIFECYCLE}
${HARDENING}

[Install]
WantedBy=agent-runner@%i.target
`;

/** `agent-runner-monitor@.service`: detectors and alerts, local or over SSH. */
export const MONITOR_TEMPLATE = `${HEADER}
# agent-runner-monitor@.service: detectors and alerts (\`agent-runner monitor\`); the instance is
# the project (local) or the remote host (--host, set in the drop-in's AGENT_RUNNER_MONITOR_ARGS).
[Unit]
Description=agent-runner monitor (%i)
${COMMON_UNIT}

[Service]
${COMMON_SERVICE}
# $AGENT_RUNNER_MONITOR_ARGS (unbraced) splits into words, e.g. "--host pi"; empty by default.
Environment=AGENT_RUNNER_MONITOR_ARGS=
ExecStart=${LIGHT_NODE} @CLI@ monitor $AGENT_RUNNER_MONITOR_ARGS
${DAEMON_LIFECYCLE}
${HARDENING}

[Install]
WantedBy=agent-runner@%i.target
`;

/** `agent-runner@.target`: groups the units of one project. */
export const TARGET_TEMPLATE = `${HEADER}
# agent-runner@.target: every unit of project %i. Its Wants= (the units installed for the
# project) are in the drop-in, so starting the target starts exactly those units and
# stopping it stops them all (they are PartOf= it).
[Unit]
Description=agent-runner project %i
StartLimitIntervalSec=0

[Install]
;system WantedBy=multi-user.target
;user WantedBy=default.target
`;

/** A unit kind agent-runner installs. */
export type UnitKind = 'serve' | 'bridge' | 'watchdog' | 'monitor' | 'target';

/** Template file name and text per kind. */
export const TEMPLATES: Record<UnitKind, { file: string; text: string }> = {
  serve: { file: 'agent-runner@.service', text: SERVE_TEMPLATE },
  bridge: { file: 'agent-runner-bridge@.service', text: BRIDGE_TEMPLATE },
  watchdog: { file: 'agent-runner-watchdog@.service', text: WATCHDOG_TEMPLATE },
  monitor: { file: 'agent-runner-monitor@.service', text: MONITOR_TEMPLATE },
  target: { file: 'agent-runner@.target', text: TARGET_TEMPLATE },
};
