/**
 * `agent-runner watchdog`: the daemon loop. Enrolls as unit `watchdog`, heartbeats, probes
 * each target once per interval through the {@link HealEngine}, pings systemd's watchdog, and
 * exits 75 on its own restart marker.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { configPaths, type AgentRunnerConfig } from '@agent-runner/core/config';
import { EventWriter } from '@agent-runner/core/events';
import { createEnrollment, readBootId, readEnrollment, removeEnrollment, verifyIdentity, writeEnrollment, type KillFn } from '@agent-runner/core/identity';
import { openLedger } from '@agent-runner/core/ledger';
import { removeHeartbeat, takeRestartRequest, writeHeartbeat } from '@agent-runner/core/markers';
import { VERSION } from '@agent-runner/core/version';
import { readInstalledVersion } from '@agent-runner/core/health';
import { HealEngine } from './heal.js';
import { systemdUnitState } from './respawn.js';
import { healSettings, TARGETS, type Target } from './tiers.js';

/** Exit codes (sysexits): 0 clean stop, 75 restart requested or another watchdog running. */
export const WATCHDOG_EXIT = { OK: 0, TEMPFAIL: 75 } as const;

/** The installed package.json the version stamp is compared with (this package's, on disk). */
export const DEFAULT_INSTALLED_PACKAGE_JSON = fileURLToPath(new URL('../package.json', import.meta.url));

/** What {@link start} needs from the process. */
export interface WatchdogDeps {
  pid: number;
  env: Record<string, string | undefined>;
  /** Aborted to stop (SIGTERM/SIGINT). */
  stop: AbortSignal;
  log: (priority: 'err' | 'warning' | 'notice' | 'info', line: string) => void;
  /** Sends signals (process.kill); identity is re-verified before every call. */
  kill: KillFn;
  /** Wall clock, ms since epoch (default Date.now). */
  now?: () => number;
  /** System-wide monotonic clock, ms (CLOCK_MONOTONIC on Linux; the bin passes process.hrtime). */
  mono: () => number;
  procRoot?: string;
  /** package.json whose version is "installed" (default {@link DEFAULT_INSTALLED_PACKAGE_JSON}). */
  installedPackageJson?: string;
  /** Foreground respawn argv per target when `[watchdog].respawn_command` has none. */
  defaultRespawn?: (t: Target) => string[] | undefined;
  /** systemd's view of a unit under systemd (default: `systemctl show`). */
  systemdState?: (unit: string, user: boolean) => Promise<{ active: string; result: string } | undefined>;
  /** Stop after this many probe rounds (tests, bench); default unbounded. */
  maxLoops?: number;
  /** Runs `systemd-notify` with these arguments (default: spawns it). */
  notify?: (args: string[]) => void;
}

function spawnNotify(env: Record<string, string | undefined>): (args: string[]) => void {
  return (args) => {
    // NotifyAccess=all in the unit: the message comes from this child, not the main pid.
    execFile('systemd-notify', args, { env: env as NodeJS.ProcessEnv, timeout: 5000 }, () => undefined);
  };
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/**
 * Runs the watchdog until `deps.stop` is aborted (exit 0), its restart marker is found (75),
 * or another live watchdog is enrolled (75).
 * @throws AgentRunnerError from opening the ledger or reading the boot id.
 */
export async function start(cfg: AgentRunnerConfig, deps: WatchdogDeps): Promise<number> {
  const now = deps.now ?? Date.now;
  const { mono } = deps;
  const paths = configPaths(cfg);
  const procOpt = deps.procRoot !== undefined ? { procRoot: deps.procRoot } : {};
  const bootId = readBootId(deps.procRoot);

  const other = readEnrollment(paths, 'watchdog');
  if (other !== undefined && other.pid !== deps.pid && verifyIdentity(other, { ...procOpt, bootId }).verdict === 'same') {
    deps.log('warning', `another watchdog is running (pid ${other.pid}); exiting 75`);
    return WATCHDOG_EXIT.TEMPFAIL;
  }

  const events = new EventWriter({ dir: paths.eventsDir, project: cfg.project, unit: 'watchdog', now });
  const ledger = openLedger(paths.ledgerPath, { now });
  const startedAtMs = now();
  const enrollment = createEnrollment('watchdog', deps.pid, { version: VERSION, project: cfg.project, nowMs: startedAtMs, ...procOpt });
  writeEnrollment(paths, enrollment);
  const beat = (state: string): void => {
    writeHeartbeat(paths, 'watchdog', { nowMs: now(), pid: deps.pid, nonce: enrollment.nonce, state });
  };
  beat('starting');

  const w = cfg.watchdog;
  const settings = healSettings(w);
  const pkg = deps.installedPackageJson ?? DEFAULT_INSTALLED_PACKAGE_JSON;
  const engine = new HealEngine({
    paths,
    project: cfg.project,
    ledger,
    events,
    settings,
    expected: w.targets,
    now,
    mono,
    bootId,
    kill: deps.kill,
    installedVersion: () => readInstalledVersion(pkg),
    systemdUnit: (t) => w.systemd_units[t].replaceAll('{project}', cfg.project),
    respawnArgv: (t) => w.respawn_command[t] ?? deps.defaultRespawn?.(t),
    env: deps.env,
    underSystemd: Boolean(deps.env['INVOCATION_ID']),
    ...(deps.env['INVOCATION_ID'] ? { systemdState: deps.systemdState ?? systemdUnitState(deps.env) } : {}),
    selfPid: deps.pid,
    ...procOpt,
    log: deps.log,
    sleep: (ms) => sleep(ms),
  });

  const notifySocket = deps.env['NOTIFY_SOCKET'];
  const notify = notifySocket ? (deps.notify ?? spawnNotify(deps.env)) : undefined;
  const wdUsec = Number(deps.env['WATCHDOG_USEC'] ?? '');
  // Ping at least twice per WatchdogSec (sd_watchdog_enabled(3) recommends half the timeout).
  const pingMs = notify && Number.isFinite(wdUsec) && wdUsec > 0 ? Math.max(100, Math.min(settings.intervalMs, wdUsec / 1000 / 2)) : undefined;
  notify?.(['--ready', `--status=watching ${TARGETS.filter((t) => w.targets.includes(t)).join(', ') || 'nothing'}`]);
  deps.log('notice', `watchdog ${VERSION} started (pid ${deps.pid}); targets: ${w.targets.join(', ') || 'none'}; interval ${w.interval_s} s${pingMs ? `; systemd watchdog ping every ${Math.round(pingMs)} ms` : ''}`);

  let code: number = WATCHDOG_EXIT.OK;
  let loops = 0;
  let nextProbe = 0;
  try {
    while (!deps.stop.aborted) {
      const restart = takeRestartRequest(paths, 'watchdog', { startedAtMs });
      if (restart !== undefined) {
        events.emit('restart_marker_consumed', {
          nonce: restart.nonce, requested_at: restart.requested_at, requested_by: restart.requested_by,
          latency_s: Math.max(0, (now() - restart.requested_at_ms) / 1000),
        });
        deps.log('notice', `restart requested by ${restart.requested_by}: ${restart.reason}; exiting 75`);
        code = WATCHDOG_EXIT.TEMPFAIL;
        break;
      }
      if (mono() >= nextProbe) {
        nextProbe = mono() + settings.intervalMs;
        // Only the configured targets: a unit someone ran by hand and stopped is not respawned.
        for (const t of TARGETS.filter((x) => w.targets.includes(x))) {
          if (deps.stop.aborted) break;
          try {
            await engine.probe(t);
          } catch (e) {
            deps.log('err', `probe of ${t} failed: ${(e as Error).message}`);
          }
        }
        beat('watching');
        loops++;
        if (deps.maxLoops !== undefined && loops >= deps.maxLoops) break;
      }
      if (pingMs !== undefined) notify?.(['WATCHDOG=1']);
      await sleep(Math.max(10, Math.min(pingMs ?? settings.intervalMs, nextProbe - mono())), deps.stop);
    }
  } finally {
    if (code === WATCHDOG_EXIT.OK) notify?.(['--stopping']);
    removeHeartbeat(paths, 'watchdog', enrollment.nonce);
    removeEnrollment(paths, 'watchdog', enrollment.nonce);
    ledger.close();
    events.close();
  }
  return code;
}
