import { configPaths, type AgentRunnerConfig } from '@agent-runner/core/config';
import { isNoSpace } from '@agent-runner/core/disk';
import { AgentRunnerError, EXIT, isAgentRunnerError } from '@agent-runner/core/errors';
import { EventWriter } from '@agent-runner/core/events';
import { readEnrollment } from '@agent-runner/core/identity';
import { openLedger, type Ledger } from '@agent-runner/core/ledger';
import type { ProjectPaths } from '@agent-runner/core/paths';
import { redactText } from '@agent-runner/core/redact';
import { enrolUnit, type ExitReason, type LogPriority, type Unit } from '@agent-runner/core/unit';
import { VERSION } from '@agent-runner/core/version';
import { startupChecks } from './startup-checks.js';
import { Episodes } from './episodes.js';
import { serveLoop } from './serve-loop.js';

export type { LogPriority } from '@agent-runner/core/unit';

/** What `serve` needs from its process; the bin provides it. */
export interface ServeDeps {
  pid: number;
  /** The runner's environment: the agent inherits it (plus the agent's own variables); `NOTIFY_SOCKET`, `WATCHDOG_USEC` reach systemd. */
  env: Record<string, string | undefined>;
  /** Aborted on the first SIGTERM/SIGINT: finish the round, end any wait at once, exit. */
  stopSignal: AbortSignal;
  /** Aborted on a second SIGTERM/SIGINT or SIGQUIT (`agent-runner kill`): end the round's process group now. */
  killSignal: AbortSignal;
  /** Sends a signal (`process.kill`): the round's process group is ended through it. */
  kill: (pid: number, signal: NodeJS.Signals) => void;
  /** One line for the journal / terminal. */
  log: (priority: LogPriority, line: string) => void;
  /** `--max-rounds` (overrides `runtime.max_rounds`; 0 = no limit). */
  maxRounds?: number;
  /** Run every round in this phase instead of rotating (`agent-runner round --phase NAME`). */
  phase?: string;
  /** This process's whole command line and working directory, for the enrollment record (the watchdog respawns with them). */
  argv?: string[];
  cwd?: string;
  /** Wall clock, ms since epoch (default Date.now). */
  now?: () => number;
  /** [0, 1) for back-off jitter (default Math.random). */
  random?: () => number;
  procRoot?: string;
  /**
   * A full garbage collection: node's `gc()`, present when node runs with `--expose-gc` (the
   * units start serve so, see `idleCollector`). Run on a heartbeat tick after an idle
   * interval, so an idle serve gives back the heap its busy rounds grew.
   */
  collectGarbage?: () => void;
}

/**
 * `agent-runner serve`: the round loop under the one unit lifecycle (core/unit): enrol, start-up
 * checks, ledger, first heartbeat, READY=1, rounds, and a clean-exit record on every way out.
 *
 * Exit codes (sysexits): 0 a clean stop (the `.agent-done` sentinel, a stop request, the round
 * limit, an operator's SIGTERM, `transient_error_action = "stop"`); 75 its restart marker, a
 * SIGTERM while a restart of it is pending (the watchdog's T2), another live serve, or a file
 * system too full to enrol; 77 a one-shot run (`round`, `--once`, `--max-rounds N`) whose last
 * round failed authentication; 69 a crash loop with `crash_loop.cooldown_s = 0` (not
 * restarted); 78 a failed start-up check or an unusable ledger (not restarted).
 *
 * Between rounds it waits per the policy (restart delay, back-off, auth probe, crash-loop
 * cool-down) and the gates (disk, operator pause, budget, throttle); every wait ends at once on
 * SIGTERM. A round in progress finishes on the first SIGTERM and is interrupted (process group
 * ended) on the second or on SIGQUIT.
 *
 * @returns the exit code.
 * @throws AgentRunnerError ERR_AR_USAGE for a `phase` the config does not have.
 */
export async function serve(cfg: AgentRunnerConfig, deps: ServeDeps): Promise<number> {
  const now = deps.now ?? Date.now;
  const paths = configPaths(cfg);
  const events = new EventWriter({ dir: paths.eventsDir, project: cfg.project, unit: 'runner', now, log: deps.log });
  if (deps.phase !== undefined && !cfg.phases.some((p) => p.name === deps.phase)) {
    throw new AgentRunnerError('ERR_AR_USAGE', `unknown phase ${JSON.stringify(deps.phase)}`, {
      expected: cfg.phases.length ? `one of ${cfg.phases.map((p) => p.name).join(', ')}` : 'no --phase: the config has no [phases]',
      found: JSON.stringify(deps.phase),
    });
  }
  try {
    return await start(cfg, deps, paths, events, now);
  } finally {
    events.close();
  }
}

async function start(
  cfg: AgentRunnerConfig,
  deps: ServeDeps,
  paths: ProjectPaths,
  events: EventWriter,
  now: () => number,
): Promise<number> {
  const broken = (check: string, detail: string, code?: string): void => {
    deps.log('err', `STARTUP FAIL (${check}): ${detail}`);
    events.emit('config_broken', { check, detail: redactText(detail).slice(0, 2000), ...(code ? { code } : {}) });
  };
  // Read before this serve's own enrollment replaces it: it tells how the previous one went away.
  const previous = readEnrollment(paths, 'runner');
  const failure = await startupChecks(cfg, paths, deps.env);
  if (failure?.check === 'state_dir') {
    broken(failure.check, failure.detail); // no enrollment or exit record can be written there
    return EXIT.CONFIG;
  }
  let unit: Unit;
  try {
    const r = enrolUnit({
      paths,
      unit: 'runner',
      project: cfg.project,
      version: VERSION,
      pid: deps.pid,
      now,
      env: deps.env,
      log: deps.log,
      ...(deps.argv ? { argv: deps.argv } : {}),
      ...(deps.cwd ? { cwd: deps.cwd } : {}),
      ...(deps.procRoot ? { procRoot: deps.procRoot } : {}),
    });
    if (r.other) {
      deps.log('err', `another serve of project ${cfg.project} is running (pid ${r.other.pid}); not starting a second one`);
      return EXIT.TEMPFAIL;
    }
    unit = r.unit;
  } catch (e) {
    if (!isNoSpace(e)) throw e;
    deps.log('err', `cannot enrol: the state file system is full (${paths.stateDir}); exiting 75 so that systemd retries`);
    return EXIT.TEMPFAIL;
  }
  const close = (code: number, reason: ExitReason, detail?: string): number => {
    unit.close(code, reason, detail);
    return code;
  };

  let ledger: Ledger;
  try {
    ledger = openLedger(paths.ledgerPath, { now });
  } catch (e) {
    if (isNoSpace(e)) {
      deps.log('err', `cannot open the ledger: the file system is full (${paths.ledgerPath}); exiting 75 so that systemd retries`);
      return close(EXIT.TEMPFAIL, 'error', 'ledger: file system full');
    }
    if (!isAgentRunnerError(e)) {
      close(EXIT.SOFTWARE, 'error', (e as Error).message);
      throw e;
    }
    broken('ledger', `${paths.ledgerPath}: ${e.message}`, e.code);
    return close(EXIT.CONFIG, 'config_broken', `ledger: ${e.message}`);
  }
  try {
    if (failure) {
      broken(failure.check, failure.detail);
      raiseBroken(ledger, cfg.project, now, failure.check, failure.detail, deps.log);
      return close(EXIT.CONFIG, 'config_broken', `${failure.check}: ${failure.detail}`);
    }
    return await serveLoop({ cfg, deps, paths, events, ledger, unit, previous, now, close });
  } catch (e) {
    close(isAgentRunnerError(e) ? e.exitCode : EXIT.SOFTWARE, 'error', (e as Error).message);
    throw e;
  } finally {
    ledger.close();
  }
}

/** Raises `config_broken` for a failed start-up check; a ledger that cannot take it is logged, not fatal. */
function raiseBroken(ledger: Ledger, project: string, now: () => number, check: string, detail: string, log: ServeDeps['log']): void {
  try {
    new Episodes(ledger, project, now).raise('config_broken', { check, detail: redactText(detail).slice(0, 1000) });
  } catch (e) {
    log('warning', `config_broken alarm not queued: ${(e as Error).message}`);
  }
}
