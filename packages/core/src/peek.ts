import { existsSync, readFileSync, readlinkSync } from 'node:fs';
import { hostname } from 'node:os';
import { basename, dirname, resolve } from 'node:path';
import { configPaths, type AgentRunnerConfig } from './config/index.js';
import type { EventRecord } from './events/index.js';
import { isErrno } from './errors.js';
import { readEnrollment, verifyIdentity, type EnrollmentRecord } from './identity.js';
import type { AlertRecord, Ledger, RoundRecord, Severity } from './ledger/index.js';
import { readHeartbeat, readStopRequest } from './markers.js';
import type { ProjectPaths } from './paths.js';
import { isLastExit, readExitRecord, STOPPED_ON_PURPOSE, type ExitReason } from './unit.js';

/**
 * The `agent-runner peek --json` document: a contract between processes (the remote monitor
 * parses it over SSH), so its shape lives here, next to the other contracts. Times are
 * ISO-8601 UTC, durations seconds, costs US dollars.
 */

/**
 * Version of the `peek --json` document; bumped only for incompatible changes. Fields added
 * later within a version (`service.pause`, `alarms`) are absent from older hosts' documents,
 * so readers treat a missing one as "nothing known".
 */
export const PEEK_SCHEMA_VERSION = 1;

/**
 * Why the runner holds rounds, as its heartbeat detail says (`detail.pause`): logged out
 * (`auth`), daily budget spent, disk full, an operator's pause, a shared throttle, or the
 * crash-loop breaker waiting for its half-open try. Each heals by itself or waits for a human
 * who has been told; none needs the monitor to stop the runner.
 */
export const PEEK_PAUSES = ['auth', 'budget', 'disk', 'operator', 'throttle', 'crash_loop'] as const;

/** One of {@link PEEK_PAUSES}. */
export type PeekPause = (typeof PEEK_PAUSES)[number];

/** An active alarm of the host: one open episode (ledger `alerts` row) of this project. */
export interface PeekAlarm {
  /** The cause (`crash_loop`, `auth_paused`, ... or a monitor detector's name). */
  cause: string;
  /** What inside the project it is about (a breaker's target), or null. */
  subject: string | null;
  severity: Severity;
  /** The unit that raised it and alone clears it: `runner`, `watchdog`, `monitor`, `cli`. */
  raised_by: string;
  /** ISO-8601 UTC. */
  raised_at: string;
}

/** How a unit last exited (its clean-exit record, core/unit `ExitRecord`). */
export interface PeekExit {
  reason: ExitReason;
  /** Its exit status (sysexits). */
  exit_code: number;
  /** ISO-8601 UTC. */
  exited_at: string;
  /** `reason` is one of core/unit `STOPPED_ON_PURPOSE`: nobody needs telling that it stopped. */
  on_purpose: boolean;
}

/** A stopped runner's last exit in words, for `peek`, `watch` and the page: its record, or why there is none. */
export function lastExitText(x: PeekExit | null): string {
  if (!x) return 'not recorded (serve was killed, crashed or never started here)';
  return `${x.reason} (exit ${x.exit_code}) at ${x.exited_at}${x.on_purpose ? ', on purpose' : ''}`;
}

/** One round as `peek` shows it (times ISO-8601 UTC, durations seconds, cost USD). */
export interface PeekRound {
  round: number;
  phase: string | null;
  status: string;
  classification: string | null;
  exit_code: number | null;
  signal: string | null;
  started_at: string;
  ended_at: string | null;
  duration_s: number | null;
  output_bytes: number | null;
  input_tokens: number | null;
  output_tokens: number | null;
  cost_usd: number | null;
  log_file: string | null;
}

/** A configured hook (`[hooks.NAME]`) and how its last run ended (its newest `hook_finished` / `hook_failed`). */
export interface PeekHook {
  name: string;
  /** When it runs (`serve_start`, `pre_round`, `post_round`, `dirty_tree`, `detector`). */
  on: string;
  enabled: boolean;
  /** Null: no run of it in the newest 7 daily event files. */
  last: {
    /** ISO-8601 UTC of the event. */
    at: string;
    outcome: 'ok' | 'failed';
    /** `failed` only: `exit`, `signal`, `timeout`, `spawn` or `bad_output`. */
    reason?: string;
    duration_s: number;
    /** `failed` only: the one-line message (redacted). */
    message?: string;
  } | null;
}

/** The `peek --json` document. Field names are stable; see docs/commands.md. */
export interface PeekSnapshot {
  schema_version: number;
  project: string;
  generated_at: string;
  service: {
    /** `running` (enrollment proven live), `stopped`, or `unknown` (cannot tell). */
    state: 'running' | 'stopped' | 'unknown';
    pid: number | null;
    version: string | null;
    started_at: string | null;
    /** What the loop does now: `round`, `waiting`, `starting`. */
    activity: string | null;
    heartbeat_age_s: number | null;
    stop_requested: boolean;
    /** First 200 characters of `.agent-done` when the agent asked to stop. */
    agent_done: string | null;
    /** Why a running runner holds rounds (its heartbeat's `detail.pause`), or null. */
    pause: PeekPause | null;
    /**
     * How the runner's newest process exited, from its clean-exit record
     * (`run/exit-runner.json`); null while it runs, and when that process left none (killed,
     * crashed, never started here). Absent from older hosts' documents.
     */
    last_exit?: PeekExit | null;
  };
  current_round: (PeekRound & { elapsed_s: number }) | null;
  rounds: PeekRound[];
  /** Classification counts of the rounds of the last 24 h. */
  counts_24h: Record<string, number>;
  /** Rounds, tokens and cost since 00:00 UTC. */
  today: {
    rounds: number;
    input_tokens: number;
    output_tokens: number;
    cache_read_tokens: number;
    cache_creation_tokens: number;
    cost_usd: number;
  };
  /** The current back-off, when the loop is waiting out a failure. */
  backoff: { class: string; until: string; delay_s: number } | null;
  /** The active shared throttle (rate limit), when any. */
  rate_limit: { account: string; class: string; throttled_until: string; reset_at: string | null } | null;
  orphan_stashes: Array<{ sha: string; round: number; message: string; created_at: string }>;
  system: {
    disk: { path: string; free_bytes: number; used_pct: number } | null;
    memory: { total_bytes: number; available_bytes: number } | null;
    agent_process_count: number;
  };
  defenses: Record<string, unknown>;
  /** The ledger read (integrity is `doctor`'s job: it costs O(size)). */
  ledger: { path: string; schema_version: number } | null;
  /** Active alarms of this project on this host, oldest first. */
  alarms: PeekAlarm[];
  /** The configured hooks in config order (absent from older hosts' documents). */
  hooks?: PeekHook[];
  recent_events: EventRecord[];
}

/** ISO-8601 UTC of an epoch-ms time; null stays null. */
export const iso = (ms: number | null | undefined): string | null => (ms === null || ms === undefined ? null : new Date(ms).toISOString());

/** A ledger round as `peek` shows it. */
export function toPeekRound(r: RoundRecord): PeekRound {
  return {
    round: r.round,
    phase: r.phase,
    status: r.status,
    classification: r.classification,
    exit_code: r.exitCode,
    signal: r.signal,
    started_at: iso(r.startedAtMs) as string,
    ended_at: iso(r.endedAtMs),
    duration_s: r.durationMs === null ? null : Math.round(r.durationMs) / 1000,
    output_bytes: r.outputBytes,
    input_tokens: r.inputTokens,
    output_tokens: r.outputTokens,
    cost_usd: r.costUsd,
    log_file: r.logFile,
  };
}

/** The pause reason in a runner heartbeat's detail; null when none or not one of {@link PEEK_PAUSES}. */
export function pauseOf(detail: Record<string, unknown> | undefined): PeekPause | null {
  const p = detail?.['pause'];
  return (PEEK_PAUSES as readonly unknown[]).includes(p) ? (p as PeekPause) : null;
}

/** An active `alerts` row as `peek` shows it (`detector` is `<cause>` or `<cause>:<subject>`). */
export function toPeekAlarm(a: AlertRecord): PeekAlarm {
  const cut = a.detector.indexOf(':');
  return {
    cause: cut < 0 ? a.detector : a.detector.slice(0, cut),
    subject: cut < 0 ? null : a.detector.slice(cut + 1),
    severity: a.severity,
    raised_by: a.raisedBy,
    raised_at: iso(a.raisedAtMs) as string,
  };
}

/**
 * `defenses` of a peek document: the limits the runner enforces by itself, from its config
 * (the monitor's detectors read them to judge what the runner already guards against). One
 * builder for `peek --json` and the monitor's local source.
 */
export function peekDefenses(cfg: AgentRunnerConfig, stopFile: string): Record<string, unknown> {
  return {
    round_timeout_s: cfg.runtime.round_timeout_s,
    inactivity_timeout_s: cfg.runtime.inactivity_timeout_s,
    max_grace_after_result_s: cfg.runtime.max_grace_after_result_s,
    kill_grace_s: cfg.runtime.kill_grace_s,
    crash_loop: cfg.runtime.crash_loop,
    backoff: cfg.runtime.backoff,
    transient_error_action: cfg.runtime.transient_error_action,
    auth_probe_interval_s: cfg.runtime.auth.probe_interval_s,
    dirty_action: cfg.vcs.dirty_action,
    max_rounds: cfg.runtime.max_rounds,
    daily_cost_budget_usd: cfg.runtime.daily_cost_budget_usd,
    disk_min_free_mb: cfg.runtime.disk_min_free_mb,
    stop_file: stopFile,
    ...(cfg.agent.auth_fail_hint ? { auth_fail_hint: cfg.agent.auth_fail_hint } : {}),
  };
}

/**
 * `service` of a peek document, from the runner's enrollment (proven live by its identity),
 * its heartbeat, the stop request, `.agent-done` and, when stopped, its exit record. One reader for `peek --json` and the
 * monitor's local source.
 * @param nowMs epoch ms the heartbeat's age is measured at.
 * @returns the block, and whether the enrolled runner is the live process (`state` running).
 */
export function peekService(paths: ProjectPaths, nowMs: number): { service: PeekSnapshot['service']; running: boolean } {
  const enrollment = readEnrollment(paths, 'runner');
  const identity = enrollment ? verifyIdentity(enrollment) : undefined;
  const running = identity?.verdict === 'same';
  const heartbeat = running ? readHeartbeat(paths, 'runner', { nowMs }) : undefined;
  return {
    running,
    service: {
      state: enrollment ? (running ? 'running' : identity?.verdict === 'unknown' ? 'unknown' : 'stopped') : 'stopped',
      pid: running ? (enrollment?.pid ?? null) : null,
      version: running ? (enrollment?.version ?? null) : null,
      started_at: running ? (enrollment?.started_at ?? null) : null,
      activity: heartbeat?.state ?? null,
      heartbeat_age_s: heartbeat ? Math.round(heartbeat.age_ms / 100) / 10 : null,
      stop_requested: readStopRequest(paths) !== undefined,
      agent_done: existsSync(paths.agentDoneFile) ? readFileSync(paths.agentDoneFile, 'utf8').trim().slice(0, 200) : null,
      pause: pauseOf(heartbeat?.detail),
      last_exit: running ? null : lastExit(paths, enrollment),
    },
  };
}

/** The runner's clean-exit record when it is of its newest process (core/unit `isLastExit`). */
function lastExit(paths: ProjectPaths, enrolled: EnrollmentRecord | undefined): PeekExit | null {
  const r = readExitRecord(paths, 'runner');
  if (r === undefined || !isLastExit(r, enrolled)) return null;
  return { reason: r.reason, exit_code: r.exit_code, exited_at: r.exited_at, on_purpose: STOPPED_ON_PURPOSE.has(r.reason) };
}

/** What a peek document reads from the ledger. */
export type PeekLedgerPart = Pick<PeekSnapshot, 'current_round' | 'rounds' | 'counts_24h' | 'today' | 'rate_limit' | 'alarms'>;

/**
 * The running round's log: the ledger has its path only once the round ended, so the
 * `round-current.log` link, when it already points at this round's `R<N>-….log`.
 */
function liveLogFile(cfg: AgentRunnerConfig, round: number): string | null {
  const link = configPaths(cfg).currentRoundLog;
  try {
    const target = readlinkSync(link);
    return basename(target).startsWith(`R${round}-`) ? resolve(dirname(link), target) : null;
  } catch (e) {
    // no link yet (no round ever logged), or a file where the link should be
    if (isErrno(e, 'ENOENT') || isErrno(e, 'EINVAL')) return null;
    throw e;
  }
}

/**
 * The ledger's part of a peek document, by indexed queries: the last `rounds` rounds, the one
 * in progress (only while the runner runs: a `running` row of a dead runner is not current),
 * the classes of the last 24 h, the totals since 00:00 UTC, the active throttle of the
 * preset's account and the project's active alarms on this host. One reader for `peek --json`
 * and the monitor's local source.
 * @param nowMs epoch ms "now" for the windows and the round's elapsed time.
 */
export function peekLedger(
  ledger: Ledger,
  cfg: AgentRunnerConfig,
  nowMs: number,
  opts: { running: boolean; rounds?: number },
): PeekLedgerPart {
  const rounds = ledger.runner.lastRounds(opts.rounds ?? 10);
  const d = new Date(nowMs);
  const t = ledger.runner.totalsSince(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()));
  const th = ledger.runner.activeThrottle(cfg.agent.preset, nowMs);
  const live = opts.running ? rounds.find((r) => r.status === 'running') : undefined;
  return {
    current_round: live
      ? {
          ...toPeekRound(live),
          log_file: live.logFile ?? liveLogFile(cfg, live.round),
          elapsed_s: Math.round((nowMs - live.startedAtMs) / 100) / 10,
        }
      : null,
    rounds: rounds.map(toPeekRound),
    counts_24h: ledger.runner.classificationCounts(nowMs - 86_400_000),
    today: {
      rounds: t.rounds,
      input_tokens: t.inputTokens,
      output_tokens: t.outputTokens,
      cache_read_tokens: t.cacheReadTokens,
      cache_creation_tokens: t.cacheCreationTokens,
      cost_usd: Math.round(t.costUsd * 1e6) / 1e6,
    },
    rate_limit: th
      ? { account: th.account, class: th.class, throttled_until: iso(th.untilMs) as string, reset_at: iso(th.resetAtMs) }
      : null,
    alarms: ledger.monitor.activeAlerts({ host: hostname(), project: cfg.project }).map(toPeekAlarm),
  };
}
