/**
 * `agent-runner watchdog`: the daemon loop. Runs the one unit lifecycle of core (enrol,
 * heartbeat, `READY=1` and `WATCHDOG=1`, own restart marker, clean-exit record), probes each
 * target once per interval through the {@link HealEngine}, and keeps probing when a probe
 * fails (a full disk: nothing is acted on until the ledger can record it).
 */
import { fileURLToPath } from 'node:url';
import { configPaths, type AgentRunnerConfig } from '@agent-runner/core/config';
import { isNoSpace } from '@agent-runner/core/disk';
import { EXIT, isAgentRunnerError } from '@agent-runner/core/errors';
import { EventWriter } from '@agent-runner/core/events';
import { readBootId, type KillFn } from '@agent-runner/core/identity';
import { openLedger } from '@agent-runner/core/ledger';
import { readInstalledVersion } from '@agent-runner/core/health';
import { sleep } from '@agent-runner/core/sleep';
import { enrolUnit, type ExitReason, type SdNotify, type Unit } from '@agent-runner/core/unit';
import { VERSION } from '@agent-runner/core/version';
import { HealEngine } from './heal.js';
import { readCgroupUnit } from './respawn.js';
import { systemctlShow, type SystemdShow } from './systemd.js';
import { consideredTargets, healSettings, type Target } from './tiers.js';

/** Exit codes (sysexits): 0 clean stop, 75 restart requested or another watchdog running. */
export const WATCHDOG_EXIT = { OK: EXIT.OK, TEMPFAIL: EXIT.TEMPFAIL } as const;

/** The installed package.json the version stamp is compared with (this package's, on disk). */
export const DEFAULT_INSTALLED_PACKAGE_JSON = fileURLToPath(new URL('../package.json', import.meta.url));

/** What {@link start} needs from the process. */
export interface WatchdogDeps {
  pid: number;
  /** A full garbage collection (`gc()` under `--expose-gc`), run by the lifecycle when idle. */
  collectGarbage?: () => void;
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
  /** This process's whole command line and working directory (enrollment and exit record). */
  argv?: string[];
  cwd?: string;
  procRoot?: string;
  /** package.json whose version is "installed" (default {@link DEFAULT_INSTALLED_PACKAGE_JSON}). */
  installedPackageJson?: string;
  /** Respawn argv of a target outside systemd when it recorded none and `respawn_command` has none. */
  defaultRespawn?: (t: Target) => string[] | undefined;
  /** systemd's view of a unit under systemd (default: `systemctl show`). */
  systemdShow?: SystemdShow;
  /** sd_notify sender (default `systemd-notify` when `$NOTIFY_SOCKET` is set). */
  notify?: SdNotify;
}

/**
 * Runs the watchdog until `deps.stop` is aborted (exit 0, or 75 when a restart of it is
 * pending), its restart marker is found (75), or another live watchdog is enrolled (75).
 * @throws AgentRunnerError from opening the ledger or reading the boot id (after writing an
 *   `error` exit record).
 */
export async function start(cfg: AgentRunnerConfig, deps: WatchdogDeps): Promise<number> {
  const now = deps.now ?? Date.now;
  const { mono } = deps;
  const paths = configPaths(cfg);
  const procOpt = deps.procRoot !== undefined ? { procRoot: deps.procRoot } : {};
  const enrolled = enrolUnit({
    paths,
    unit: 'watchdog',
    project: cfg.project,
    version: VERSION,
    pid: deps.pid,
    now,
    env: deps.env,
    log: deps.log,
    ...procOpt,
    ...(deps.argv !== undefined ? { argv: deps.argv } : {}),
    ...(deps.cwd !== undefined ? { cwd: deps.cwd } : {}),
    ...(deps.notify !== undefined ? { notify: deps.notify } : {}),
  });
  if (enrolled.other !== undefined) {
    deps.log('warning', `another watchdog is running (pid ${enrolled.other.pid}); exiting 75`);
    return WATCHDOG_EXIT.TEMPFAIL;
  }
  const unit = enrolled.unit;
  let code: number = WATCHDOG_EXIT.OK;
  let reason: ExitReason = 'signal';
  let detail: string | undefined;
  let ledger: ReturnType<typeof openLedger> | undefined;
  let events: EventWriter | undefined;
  try {
    const bootId = readBootId(deps.procRoot);
    events = new EventWriter({ dir: paths.eventsDir, project: cfg.project, unit: 'watchdog', now });
    ledger = openLedger(paths.ledgerPath, { now });
    const w = cfg.watchdog;
    const settings = healSettings(w);
    const underSystemd = Boolean(deps.env['INVOCATION_ID']);
    const targets = consideredTargets(w.targets, underSystemd);
    const engine = healEngine(cfg, deps, { paths, ledger, events, settings, bootId, underSystemd });

    const watching = `watching ${targets.join(', ') || 'nothing'}`;
    unit.start({
      heartbeatMs: Math.min(settings.intervalMs, 10_000),
      state: 'watching',
      status: watching,
      ...(deps.collectGarbage ? { collectGarbage: deps.collectGarbage } : {}),
    });
    deps.log(
      'notice',
      `watchdog ${VERSION} started (pid ${deps.pid}); ${watching}${underSystemd ? ' (systemd units)' : ''}; interval ${w.interval_s} s${unit.watchdogPinged ? "; pinging systemd's watchdog" : ''}`,
    );

    let failing: string | undefined;
    let nextProbe = 0;
    while (!deps.stop.aborted) {
      if (consumeRestart(unit, events, deps, now)) {
        code = WATCHDOG_EXIT.TEMPFAIL;
        reason = 'restart_marker';
        break;
      }
      if (mono() >= nextProbe) {
        nextProbe = mono() + settings.intervalMs;
        const problem = await probeAll(engine, targets, deps.stop);
        // Told once per episode: a full disk fails every probe until space is freed.
        if (problem !== undefined && problem !== failing) deps.log('err', `probe failed: ${problem}; probing on`);
        if (problem === undefined && failing !== undefined) deps.log('notice', 'probes work again');
        failing = problem;
        unit.setState(failing === undefined ? 'watching' : 'degraded');
      }
      await sleep(Math.max(10, nextProbe - mono()), deps.stop);
    }
    if (reason !== 'restart_marker' && deps.stop.aborted) {
      code = unit.signalExitCode();
      reason = code === WATCHDOG_EXIT.TEMPFAIL ? 'restart_marker' : 'signal';
    }
  } catch (e) {
    code = isAgentRunnerError(e) ? e.exitCode : EXIT.SOFTWARE;
    reason = 'error';
    detail = (e as Error).message;
    throw e;
  } finally {
    unit.close(code, reason, detail);
    ledger?.close();
    events?.close();
  }
  return code;
}

/** What the engine shares with the loop: the state it writes and the clocks' settings. */
interface EngineParts {
  paths: ReturnType<typeof configPaths>;
  ledger: ReturnType<typeof openLedger>;
  events: EventWriter;
  settings: ReturnType<typeof healSettings>;
  bootId: string;
  underSystemd: boolean;
}

/** The heal engine of `cfg.watchdog`: systemd's units when under systemd, else respawn argv. */
function healEngine(cfg: AgentRunnerConfig, deps: WatchdogDeps, p: EngineParts): HealEngine {
  const w = cfg.watchdog;
  const now = deps.now ?? Date.now;
  const pkg = deps.installedPackageJson ?? DEFAULT_INSTALLED_PACKAGE_JSON;
  return new HealEngine({
    paths: p.paths,
    project: cfg.project,
    ledger: p.ledger,
    events: p.events,
    settings: p.settings,
    targets: w.targets,
    now,
    mono: deps.mono,
    bootId: p.bootId,
    kill: deps.kill,
    installedVersion: () => readInstalledVersion(pkg),
    systemdUnit: (t) => w.systemd_units[t].replaceAll('{project}', cfg.project),
    fallbackRespawn: (t) => {
      const configured = w.respawn_command[t];
      if (configured !== undefined) return { argv: configured, from: 'respawn_command' };
      const argv = deps.defaultRespawn?.(t);
      return argv !== undefined ? { argv, from: 'default' } : undefined;
    },
    env: deps.env,
    // The units are the user manager's when the watchdog itself runs under one.
    ...(p.underSystemd
      ? { systemd: { show: deps.systemdShow ?? systemctlShow(deps.env), user: readCgroupUnit(deps.pid, deps.procRoot)?.user ?? false } }
      : {}),
    ...(deps.procRoot !== undefined ? { procRoot: deps.procRoot } : {}),
    log: deps.log,
    sleep: async (ms) => void (await sleep(ms)),
  });
}

/** Takes the watchdog's own restart marker, if any (recorded as `restart_marker_consumed`). */
function consumeRestart(unit: Unit, events: EventWriter, deps: WatchdogDeps, now: () => number): boolean {
  const restart = unit.takeRestart();
  if (restart === undefined) return false;
  try {
    events.emit('restart_marker_consumed', {
      nonce: restart.nonce,
      requested_at: restart.requested_at,
      requested_by: restart.requested_by,
      latency_s: Math.max(0, (now() - restart.requested_at_ms) / 1000),
    });
  } catch (e) {
    deps.log('warning', `event restart_marker_consumed not written: ${(e as Error).message}`);
  }
  deps.log('notice', `restart requested by ${restart.requested_by}: ${restart.reason}; exiting 75`);
  return true;
}

/**
 * Probes every target once; a probe that throws does not stop the others.
 * @returns what failed (`target: why; …`), or undefined when every probe ran.
 */
async function probeAll(engine: HealEngine, targets: readonly Target[], stop: AbortSignal): Promise<string | undefined> {
  const problems: string[] = [];
  for (const t of targets) {
    if (stop.aborted) break;
    try {
      await engine.probe(t);
    } catch (e) {
      problems.push(`${t}: ${isNoSpace(e) ? 'the state file system is full' : (e as Error).message}`);
    }
  }
  return problems.join('; ') || undefined;
}
