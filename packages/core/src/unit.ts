/**
 * The lifecycle every long-running unit shares (serve, bridge, watchdog, monitor): enrol
 * (refusing a live duplicate), heartbeat, tell systemd it is ready and alive, consume its own
 * restart marker, and leave a clean-exit record. One implementation, so the watchdog can rely
 * on the same facts from every unit (DESIGN.md, "Lifecycle, readiness and who heals what").
 *
 * ```
 * enrolUnit()  → enrollment record written      (a live duplicate: refused)
 * unit.start() → first heartbeat, then READY=1   (Type=notify: "active" only from here)
 *              → every tick: heartbeat when due, WATCHDOG=1, onTick()
 * unit.close() → STOPPING=1, exit record, heartbeat and enrollment removed
 * ```
 *
 * Nothing here throws for a full disk: heartbeats and records that cannot be written are
 * logged once per episode and the unit keeps running degraded (the watchdog does not act on a
 * stale heartbeat while the state file system is full, see core/health).
 *
 * sd_notify(3) is spoken through `systemd-notify` (systemd's own client), run as a child with
 * `NotifyAccess=all` in the units. Node has no AF_UNIX datagram socket, which the protocol
 * needs, and the npm packages that add one are native addons linking libsystemd (a compiler
 * and libsystemd-dev at install time on every Pi). systemd-notify waits until the manager has
 * processed the message (sd_notify_barrier), so the child exiting first loses nothing. A ping
 * costs one short process every WatchdogSec/2.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from './atomic.js';
import { isNoSpace } from './disk.js';
import { idleCollector } from './idle-gc.js';
import {
  createEnrollment,
  type EnrollmentRecord,
  readBootId,
  readEnrollment,
  removeEnrollment,
  verifyIdentity,
  writeEnrollment,
} from './identity.js';
import {
  assertUnitName,
  peekRestartRequest,
  readJsonMarker,
  removeHeartbeat,
  type RestartRequest,
  shapeProblem,
  takeRestartRequest,
  type TakeRestartOptions,
  writeHeartbeat,
} from './markers.js';
import type { ProjectPaths } from './paths.js';

/** syslog priorities of daemon log lines (sd-daemon(3) prefixes under systemd). */
export type LogPriority = 'err' | 'warning' | 'notice' | 'info';

/** Sends one sd_notify(3) message, e.g. `['READY=1', 'STATUS=serving']`. */
export type SdNotify = (assignments: string[]) => void;

/**
 * The sd_notify sender of this process: `systemd-notify` when systemd gave it a notification
 * socket (`$NOTIFY_SOCKET`), else undefined (not under systemd, or `Type=` without notify).
 */
export function systemdNotifier(env: Record<string, string | undefined>): SdNotify | undefined {
  if (!env['NOTIFY_SOCKET']) return undefined;
  return (assignments) => {
    execFile('systemd-notify', assignments, { env: env as NodeJS.ProcessEnv, timeout: 5000 }, () => undefined);
  };
}

/**
 * systemd's watchdog timeout for this process in ms (`$WATCHDOG_USEC`, honoured only when
 * `$WATCHDOG_PID` is unset or names `pid`, as sd_watchdog_enabled(3) does); undefined when none.
 */
export function systemdWatchdogMs(env: Record<string, string | undefined>, pid: number): number | undefined {
  const usec = Number(env['WATCHDOG_USEC'] ?? '');
  if (!Number.isFinite(usec) || usec <= 0) return undefined;
  const wpid = env['WATCHDOG_PID'];
  if (wpid !== undefined && wpid !== '' && Number(wpid) !== pid) return undefined;
  return usec / 1000;
}

/**
 * Why a unit exited, as its clean-exit record says. The watchdog leaves a unit alone after
 * `stop_requested`, `agent_done`, `max_rounds`, `signal` (an operator's SIGTERM),
 * `transient_error` (serve's `transient_error_action = "stop"`), `crash_loop` (69) and
 * `config_broken` (78, or 77 for the monitor's refused host key); `restart_marker` (75) asks for
 * a restart; `error` is a failure.
 */
export type ExitReason =
  | 'signal'
  | 'stop_requested'
  | 'agent_done'
  | 'max_rounds'
  | 'transient_error'
  | 'crash_loop'
  | 'config_broken'
  | 'restart_marker'
  | 'duplicate'
  | 'error';

/**
 * Exit reasons of a unit that stopped on purpose: an operator's stop (`stop_requested`, or
 * `signal`: SIGTERM from `systemctl stop`), the end of a bounded run or the agent's
 * `.agent-done`, or a stop that raised its own alarm and waits for a human (`crash_loop`,
 * `config_broken`, `transient_error`). The watchdog does not respawn such a unit, and the
 * monitor does not report the runner as stopped unexpectedly.
 */
export const STOPPED_ON_PURPOSE: ReadonlySet<ExitReason> = new Set<ExitReason>([
  'stop_requested',
  'agent_done',
  'max_rounds',
  'signal',
  'crash_loop',
  'config_broken',
  'transient_error',
]);

/** Content of `run/exit-<unit>.json`, written by {@link Unit.close}. */
export interface ExitRecord {
  unit: string;
  pid: number;
  /** Nonce of the incarnation that exited (its enrollment's). */
  nonce: string;
  /** The process's exit status (sysexits). */
  exit_code: number;
  reason: ExitReason;
  /** One line for humans (truncated to 500 characters). */
  detail?: string;
  /** ISO 8601 UTC and ms since the epoch. */
  exited_at: string;
  exited_at_ms: number;
  /** The command line and working directory it ran with (the watchdog respawns with them). */
  argv?: string[];
  cwd?: string;
}

const EXIT_SHAPE = {
  unit: 'string',
  pid: 'int',
  nonce: 'string',
  exit_code: 'int',
  reason: 'string',
  detail: 'string?',
  exited_at: 'string',
  exited_at_ms: 'int',
  argv: 'string[]?',
  cwd: 'string?',
} as const;

/** Path of the clean-exit record of `unit`: `<runDir>/exit-<unit>.json`. */
export function exitRecordPath(paths: ProjectPaths, unit: string): string {
  return join(paths.runDir, `exit-${assertUnitName(unit)}.json`);
}

/**
 * Whether exit record `rec` is of `unit`'s newest process, given the enrollment left (if any):
 * with none it is (a clean exit removes its enrollment); else when it is the enrolled
 * incarnation's, or was written after that one started (a later process that exited before it
 * could enrol: the watchdog's record of a respawn that exited 78). A record older than a
 * process left enrolled (killed, crashed) says nothing of that process.
 */
export function isLastExit(rec: ExitRecord, enrolled: EnrollmentRecord | undefined): boolean {
  return enrolled === undefined || rec.nonce === enrolled.nonce || rec.exited_at_ms >= enrolled.started_at_ms;
}

/** Reads the clean-exit record of `unit`; undefined when there is none or it is malformed. */
export function readExitRecord(paths: ProjectPaths, unit: string): ExitRecord | undefined {
  return readJsonMarker<ExitRecord>(exitRecordPath(paths, unit), (v) => shapeProblem(v, EXIT_SHAPE)).value;
}

/**
 * Writes the clean-exit record of `rec.unit` (atomically). Units write their own through
 * {@link Unit.close}; the watchdog writes one for a process it respawned that exited before it
 * could enrol (a config broken meanwhile: exit 78), so it is known to have stopped on purpose.
 * @throws NodeJS.ErrnoException when the run directory cannot be written.
 */
export function writeExitRecord(paths: ProjectPaths, rec: ExitRecord): void {
  writeFileAtomic(exitRecordPath(paths, rec.unit), `${JSON.stringify(rec)}\n`);
}

/** What {@link enrolUnit} needs. */
export interface UnitOptions {
  paths: ProjectPaths;
  /** Unit name: `runner`, `bridge`, `watchdog`, `monitor`. */
  unit: string;
  project: string;
  /** agent-runner version (the watchdog's version stamp). */
  version: string;
  pid: number;
  /** This process's full command line (execPath, execArgv, script, arguments). */
  argv?: string[];
  cwd?: string;
  /** Wall clock, ms since epoch. */
  now: () => number;
  procRoot?: string;
  /** Environment: `NOTIFY_SOCKET`, `WATCHDOG_USEC`, `WATCHDOG_PID`. */
  env: Record<string, string | undefined>;
  log: (priority: LogPriority, line: string) => void;
  /** sd_notify sender (default {@link systemdNotifier}); tests pass a recorder. */
  notify?: SdNotify;
}

/** The outcome of {@link enrolUnit}. */
export type EnrolResult = { unit: Unit; other?: undefined } | { unit?: undefined; other: EnrollmentRecord };

/**
 * Enrols `opts.unit`: refuses when another live process is enrolled as it (identity-checked),
 * else writes this process's enrollment record.
 * @returns `{ unit }`, or `{ other }` naming the live duplicate (the caller exits 75).
 * @throws AgentRunnerError ERR_AR_IO when procfs cannot be read; NodeJS.ErrnoException when
 *   the record cannot be written (a full disk at start is a failed start: systemd retries).
 */
export function enrolUnit(opts: UnitOptions): EnrolResult {
  const procOpt = opts.procRoot !== undefined ? { procRoot: opts.procRoot } : {};
  const other = readEnrollment(opts.paths, opts.unit);
  if (other !== undefined && other.pid !== opts.pid) {
    const bootId = readBootId(opts.procRoot);
    if (verifyIdentity(other, { ...procOpt, bootId }).verdict === 'same') return { other };
  }
  const record = createEnrollment(opts.unit, opts.pid, {
    version: opts.version,
    project: opts.project,
    nowMs: opts.now(),
    ...procOpt,
    ...(opts.argv !== undefined ? { argv: opts.argv } : {}),
    ...(opts.cwd !== undefined ? { cwd: opts.cwd } : {}),
  });
  writeEnrollment(opts.paths, record);
  return { unit: new Unit(opts, record) };
}

/** What {@link Unit.start} runs on. */
export interface StartOptions {
  /** Between heartbeats, ms. */
  heartbeatMs: number;
  /** First state (`starting`, `idle`, ...). */
  state: string;
  /** Extra heartbeat detail, read at each beat. */
  detail?: () => Record<string, unknown> | undefined;
  /** Called on every heartbeat tick after the beat (the serve loop judges the watchdog here). */
  onTick?: () => void;
  /** `STATUS=` sent with `READY=1`. */
  status?: string;
  /**
   * A full garbage collection (node's `gc()`, present under `--expose-gc`, as every unit runs):
   * run after a heartbeat interval in which the event loop was idle (see idleCollector), so a
   * daemon gives back the heap a busy stretch grew instead of idling at its high-water mark.
   */
  collectGarbage?: () => void;
}

/** An enrolled unit. Create with {@link enrolUnit}. */
export class Unit {
  readonly record: EnrollmentRecord;
  /** When this incarnation enrolled, ms since epoch (older restart markers are stale). */
  readonly startedAtMs: number;
  private readonly notify: SdNotify | undefined;
  private readonly watchdogMs: number | undefined;
  private state = 'starting';
  private detail: (() => Record<string, unknown> | undefined) | undefined;
  private timer: NodeJS.Timeout | undefined;
  private lastBeatMs = -Infinity;
  private writeFailing = false;
  private closed = false;

  constructor(
    private readonly o: UnitOptions,
    record: EnrollmentRecord,
  ) {
    this.record = record;
    this.startedAtMs = record.started_at_ms;
    this.notify = o.notify ?? systemdNotifier(o.env);
    this.watchdogMs = systemdWatchdogMs(o.env, o.pid);
  }

  /** True when systemd watches this process with `WatchdogSec=` (pings are sent). */
  get watchdogPinged(): boolean {
    return this.notify !== undefined && this.watchdogMs !== undefined;
  }

  /**
   * Writes the first heartbeat, tells systemd `READY=1`, and starts the tick: a heartbeat every
   * `heartbeatMs`, `WATCHDOG=1` at least every WatchdogSec/2, then `onTick`. The timer runs on
   * the event loop, so a blocked or frozen process stops pinging and systemd restarts it.
   */
  start(s: StartOptions): void {
    this.state = s.state;
    this.detail = s.detail;
    this.beat();
    this.notify?.(['READY=1', ...(s.status ? [`STATUS=${s.status}`] : [])]);
    const pingMs = this.watchdogPinged ? (this.watchdogMs as number) / 2 : Infinity;
    const period = Math.max(100, Math.min(s.heartbeatMs, pingMs));
    const collectIfIdle = s.collectGarbage ? idleCollector(s.collectGarbage) : undefined;
    this.timer = setInterval(() => {
      if (this.o.now() - this.lastBeatMs >= s.heartbeatMs - period / 2) {
        this.beat();
        collectIfIdle?.();
      }
      if (pingMs !== Infinity) this.notify?.(['WATCHDOG=1']);
      try {
        s.onTick?.();
      } catch (e) {
        this.o.log('warning', `${this.o.unit}: tick failed: ${(e as Error).message}`);
      }
    }, period);
  }

  /** Sets the state the heartbeats report; `now` also writes a heartbeat at once. */
  setState(state: string, now = false): void {
    this.state = state;
    if (now) this.beat();
  }

  /**
   * Writes the heartbeat now. A failure (full disk, read-only remount) is logged once until a
   * write succeeds again; it never throws.
   * @returns whether the heartbeat was written.
   */
  beat(): boolean {
    const nowMs = this.o.now();
    try {
      const detail = this.detail?.();
      writeHeartbeat(this.o.paths, this.o.unit, {
        nowMs,
        pid: this.o.pid,
        nonce: this.record.nonce,
        state: this.state,
        ...(detail ? { detail } : {}),
      });
      this.lastBeatMs = nowMs;
      if (this.writeFailing) this.o.log('notice', `${this.o.unit}: heartbeat written again`);
      this.writeFailing = false;
      return true;
    } catch (e) {
      if (!this.writeFailing) {
        const why = isNoSpace(e) ? 'the state file system is full' : (e as Error).message;
        this.o.log('warning', `${this.o.unit}: heartbeat not written (${why}); running on, retrying every beat`);
      }
      this.writeFailing = true;
      this.lastBeatMs = nowMs;
      return false;
    }
  }

  /** Consumes this unit's own restart marker (see {@link takeRestartRequest}). */
  takeRestart(onDiscard?: TakeRestartOptions['onDiscard']): RestartRequest | undefined {
    try {
      return takeRestartRequest(this.o.paths, this.o.unit, { startedAtMs: this.startedAtMs, ...(onDiscard ? { onDiscard } : {}) });
    } catch (e) {
      this.o.log('warning', `${this.o.unit}: restart marker unreadable: ${(e as Error).message}`);
      return undefined;
    }
  }

  /**
   * The exit status for a stop by signal: 75 (restart) when a restart of this incarnation was
   * requested and is still pending — the watchdog's T2 SIGTERM follows its restart marker, so
   * a heal never looks like an operator's stop — else 0 (an operator's `systemctl stop`).
   */
  signalExitCode(): 0 | 75 {
    try {
      const req = peekRestartRequest(this.o.paths, this.o.unit);
      return req !== undefined && req.requested_at_ms >= this.startedAtMs ? 75 : 0;
    } catch {
      return 0; // an unreadable marker at shutdown: exiting as a plain stop beats crashing the exit path
    }
  }

  /**
   * Ends the unit: stops the tick, tells systemd `STOPPING=1`, writes the clean-exit record
   * and removes the heartbeat and the enrollment (only when still this incarnation's). Never
   * throws; idempotent.
   */
  close(exitCode: number, reason: ExitReason, detail?: string): void {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.notify?.(['STOPPING=1', `STATUS=exiting ${exitCode}: ${reason}`]);
    const nowMs = this.o.now();
    const rec: ExitRecord = {
      unit: this.o.unit,
      pid: this.o.pid,
      nonce: this.record.nonce,
      exit_code: exitCode,
      reason,
      ...(detail ? { detail: detail.replace(/\s+/g, ' ').slice(0, 500) } : {}),
      exited_at: new Date(nowMs).toISOString(),
      exited_at_ms: Math.trunc(nowMs),
      ...(this.record.argv ? { argv: this.record.argv } : {}),
      ...(this.record.cwd ? { cwd: this.record.cwd } : {}),
    };
    const quiet = (what: string, fn: () => unknown): void => {
      try {
        fn();
      } catch (e) {
        this.o.log('warning', `${this.o.unit}: ${what}: ${(e as Error).message}`);
      }
    };
    quiet('exit record not written', () => existsSync(this.o.paths.runDir) && writeExitRecord(this.o.paths, rec));
    quiet('heartbeat not removed', () => removeHeartbeat(this.o.paths, this.o.unit, this.record.nonce));
    quiet('enrollment not removed', () => removeEnrollment(this.o.paths, this.o.unit, this.record.nonce));
  }
}
