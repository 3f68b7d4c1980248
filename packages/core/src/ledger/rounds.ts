import type BetterSqlite3 from 'better-sqlite3';
import type { Exec } from './exec.js';
import { fromJsonColumn, int, num, str, textColumn, toJsonColumn, type Row } from './json.js';

/** Status of a round row. `interrupted` = the runner died or was stopped before finishing it. */
export type RoundStatus = 'running' | 'finished' | 'interrupted';

/**
 * The serve incarnation that owns a round (see DESIGN.md, "Identity before any signal").
 * After a crash the next runner compares it with live processes to decide which `running`
 * rows are orphans to close as `interrupted`.
 */
export interface RunnerIdentity {
  /** PID of the `agent-runner serve` process. */
  pid: number;
  /** `/proc/sys/kernel/random/boot_id` at the runner's start. */
  bootId: string;
  /** Field 22 of `/proc/PID/stat` (clock ticks since boot). */
  starttimeTicks: number;
  /** Random nonce of the serve incarnation (from its enrollment record). */
  nonce: string;
}

/** Input of {@link RoundsAccess.startRound}. */
export interface StartRoundInput {
  runner: RunnerIdentity;
  /** Prompt phase name, when the config uses phases. */
  phase?: string;
  /** Adapter name (`claude`, `codex`, ...). */
  agent?: string;
  /** Round log path, when already known. */
  logFile?: string;
  /** Start time, ms since epoch; default the ledger clock. */
  startedAtMs?: number;
}

/** Token usage and cost of a round, as reported by the agent (absent = unknown). */
export interface RoundUsage {
  inputTokens?: number;
  outputTokens?: number;
  cacheReadTokens?: number;
  cacheCreationTokens?: number;
  /** Cost in US dollars (e.g. Claude `result.total_cost_usd`). */
  costUsd?: number;
}

/** Input of {@link RoundsAccess.finishRound}. */
export interface FinishRoundInput extends RoundUsage {
  /** Adapter classification: `ok`, `rate_limit`, `overloaded`, `server_error`, `timeout`, `auth`, ... */
  classification: string;
  /** Agent exit code; null when it died by a signal. */
  exitCode?: number | null;
  /** Signal name (`SIGKILL`) when the agent died by one. */
  signal?: string | null;
  /** Bytes of agent output. */
  outputBytes?: number;
  logFile?: string;
  /** Duration in ms from a monotonic clock; default `endedAtMs - startedAtMs`. */
  durationMs?: number;
  /** Rate-limit facts (reset time, window, ...), stored as JSON. */
  rateLimit?: unknown;
  /** What the classifier saw (matched events, excerpts), stored as JSON. */
  evidence?: unknown;
  /** End time, ms since epoch; default the ledger clock. */
  endedAtMs?: number;
}

/** One row of `rounds`. SQL NULL reads as `null`. */
export interface RoundRecord {
  round: number;
  phase: string | null;
  agent: string | null;
  status: RoundStatus;
  startedAtMs: number;
  endedAtMs: number | null;
  pid: number;
  runnerBootId: string;
  runnerStarttimeTicks: number;
  runnerNonce: string;
  exitCode: number | null;
  signal: string | null;
  durationMs: number | null;
  classification: string | null;
  outputBytes: number | null;
  logFile: string | null;
  inputTokens: number | null;
  outputTokens: number | null;
  cacheReadTokens: number | null;
  cacheCreationTokens: number | null;
  costUsd: number | null;
  rateLimit: unknown;
  evidence: unknown;
  interruptReason: string | null;
  /** Process group of the round's agent (its leader's pid), once spawned (schema v2). */
  agentPgid: number | null;
  /** Field 22 of the group leader's `/proc/PID/stat`: with `agentPgid`, the group's identity. */
  agentStarttimeTicks: number | null;
}

/** Sums over the rounds started since a point in time; unknown usage counts as 0. */
export interface RoundTotals {
  rounds: number;
  inputTokens: number;
  outputTokens: number;
  cacheReadTokens: number;
  cacheCreationTokens: number;
  costUsd: number;
}

/** The `rounds` table. Writer: the runner only. Readers: anyone. */
export interface RoundsAccess {
  /**
   * Inserts a `running` row and returns its round number. Numbers are allocated inside the
   * inserting transaction as (highest ever allocated) + 1 and are never reused — not after
   * a reopen, a crash, `markInterrupted`, or deleting rows.
   */
  startRound(input: StartRoundInput): number;
  /**
   * Closes a `running` round as `finished` with its outcome and usage.
   * @returns false (and changes nothing) when the round is not `running` — e.g. a new runner
   *   already closed it as `interrupted` — so a round is never counted twice.
   */
  finishRound(round: number, input: FinishRoundInput): boolean;
  /**
   * Closes a `running` round as `interrupted` (runner crash, stop, shutdown).
   * @returns false when the round is not `running`.
   */
  markInterrupted(round: number, reason: string, endedAtMs?: number): boolean;
  /**
   * Records the agent's process group (leader pid = pgid) and its leader's start time, right
   * after the spawn, so a serve starting after a crash can end a group that outlived it.
   * @returns false when the round is not `running`.
   */
  recordAgent(round: number, pgid: number, starttimeTicks: number): boolean;
  /** Rounds still `running`, oldest first (after a crash: the orphans to interrupt). */
  runningRounds(): RoundRecord[];
  /** The `limit` newest rounds, newest first. */
  lastRounds(limit: number): RoundRecord[];
  getRound(round: number): RoundRecord | undefined;
  /**
   * Rounds started at or after `sinceMs` that are no longer running, counted by
   * classification; interrupted rounds without a classification count as `interrupted`.
   */
  classificationCounts(sinceMs: number): Record<string, number>;
  /** Token and cost totals of rounds started at or after `sinceMs` (any status). */
  totalsSince(sinceMs: number): RoundTotals;
}

function toRound(r: Row): RoundRecord {
  return {
    round: Number(r['round']),
    phase: str(r, 'phase'),
    agent: str(r, 'agent'),
    status: String(r['status']) as RoundStatus,
    startedAtMs: Number(r['started_at_ms']),
    endedAtMs: num(r, 'ended_at_ms'),
    pid: Number(r['pid']),
    runnerBootId: String(r['runner_boot_id']),
    runnerStarttimeTicks: Number(r['runner_starttime_ticks']),
    runnerNonce: String(r['runner_nonce']),
    exitCode: num(r, 'exit_code'),
    signal: str(r, 'signal'),
    durationMs: num(r, 'duration_ms'),
    classification: str(r, 'classification'),
    outputBytes: num(r, 'output_bytes'),
    logFile: str(r, 'log_file'),
    inputTokens: num(r, 'input_tokens'),
    outputTokens: num(r, 'output_tokens'),
    cacheReadTokens: num(r, 'cache_read_tokens'),
    cacheCreationTokens: num(r, 'cache_creation_tokens'),
    costUsd: num(r, 'cost_usd'),
    rateLimit: fromJsonColumn(str(r, 'rate_limit')),
    evidence: fromJsonColumn(str(r, 'evidence')),
    interruptReason: str(r, 'interrupt_reason'),
    agentPgid: num(r, 'agent_pgid'),
    agentStarttimeTicks: num(r, 'agent_starttime_ticks'),
  };
}

/** Prepares the statements of {@link RoundsAccess} once for a connection. */
export function roundsAccess(db: BetterSqlite3.Database, exec: Exec, now: () => number): RoundsAccess {
  const insert = db.prepare(`INSERT INTO rounds
      (phase, agent, status, started_at_ms, pid, runner_boot_id, runner_starttime_ticks, runner_nonce, log_file)
    VALUES (@phase, @agent, 'running', @startedAtMs, @pid, @bootId, @starttimeTicks, @nonce, @logFile)`);
  const finish = db.prepare(`UPDATE rounds SET
      status = 'finished', ended_at_ms = @endedAtMs,
      duration_ms = COALESCE(@durationMs, MAX(0, @endedAtMs - started_at_ms)),
      exit_code = @exitCode, signal = @signal, classification = @classification,
      output_bytes = @outputBytes, log_file = COALESCE(@logFile, log_file),
      input_tokens = @inputTokens, output_tokens = @outputTokens,
      cache_read_tokens = @cacheReadTokens, cache_creation_tokens = @cacheCreationTokens,
      cost_usd = @costUsd, rate_limit = @rateLimit, evidence = @evidence
    WHERE round = @round AND status = 'running'`);
  const interrupt = db.prepare(`UPDATE rounds SET
      status = 'interrupted', ended_at_ms = @endedAtMs,
      duration_ms = MAX(0, @endedAtMs - started_at_ms), interrupt_reason = @reason
    WHERE round = @round AND status = 'running'`);
  const agent = db.prepare(`UPDATE rounds SET agent_pgid = ?, agent_starttime_ticks = ? WHERE round = ? AND status = 'running'`);
  const running = db.prepare(`SELECT * FROM rounds WHERE status = 'running' ORDER BY round`);
  const last = db.prepare(`SELECT * FROM rounds ORDER BY round DESC LIMIT ?`);
  const one = db.prepare(`SELECT * FROM rounds WHERE round = ?`);
  const counts = db.prepare(`SELECT COALESCE(classification, status) AS k, COUNT(*) AS n FROM rounds
    WHERE started_at_ms >= ? AND status <> 'running' GROUP BY k`);
  const totals = db.prepare(`SELECT COUNT(*) AS rounds,
      TOTAL(input_tokens) AS input_tokens, TOTAL(output_tokens) AS output_tokens,
      TOTAL(cache_read_tokens) AS cache_read_tokens, TOTAL(cache_creation_tokens) AS cache_creation_tokens,
      TOTAL(cost_usd) AS cost_usd
    FROM rounds WHERE started_at_ms >= ?`);

  return {
    startRound(input) {
      const r = input.runner;
      return exec.write('start round', () =>
        Number(
          insert.run({
            phase: input.phase ?? null,
            agent: input.agent ?? null,
            startedAtMs: int(input.startedAtMs ?? now()),
            pid: r.pid,
            bootId: r.bootId,
            starttimeTicks: r.starttimeTicks,
            nonce: r.nonce,
            logFile: input.logFile ?? null,
          }).lastInsertRowid,
        ),
      );
    },
    finishRound(round, input) {
      const params = {
        round,
        endedAtMs: int(input.endedAtMs ?? now()),
        durationMs: int(input.durationMs),
        exitCode: input.exitCode ?? null,
        signal: input.signal ?? null,
        classification: input.classification,
        outputBytes: int(input.outputBytes),
        logFile: input.logFile ?? null,
        inputTokens: int(input.inputTokens),
        outputTokens: int(input.outputTokens),
        cacheReadTokens: int(input.cacheReadTokens),
        cacheCreationTokens: int(input.cacheCreationTokens),
        costUsd: input.costUsd ?? null,
        rateLimit: toJsonColumn(input.rateLimit),
        evidence: toJsonColumn(input.evidence),
      };
      return exec.write('finish round', () => finish.run(params).changes === 1);
    },
    markInterrupted(round, reason, endedAtMs) {
      const params = { round, reason: textColumn(reason), endedAtMs: int(endedAtMs ?? now()) };
      return exec.write('mark round interrupted', () => interrupt.run(params).changes === 1);
    },
    recordAgent(round, pgid, starttimeTicks) {
      return exec.write('record agent process group', () => agent.run(int(pgid), int(starttimeTicks), round).changes === 1);
    },
    runningRounds() {
      return exec.read('list running rounds', () => (running.all() as Row[]).map(toRound));
    },
    lastRounds(limit) {
      return exec.read('list rounds', () => (last.all(limit) as Row[]).map(toRound));
    },
    getRound(round) {
      const r = exec.read('read round', () => one.get(round) as Row | undefined);
      return r === undefined ? undefined : toRound(r);
    },
    classificationCounts(sinceMs) {
      const rows = exec.read('count classifications', () => counts.all(sinceMs) as Row[]);
      const out: Record<string, number> = {};
      for (const r of rows) out[String(r['k'])] = Number(r['n']);
      return out;
    },
    totalsSince(sinceMs) {
      const r = exec.read('sum round usage', () => totals.get(sinceMs) as Row);
      return {
        rounds: Number(r['rounds']),
        inputTokens: Number(r['input_tokens']),
        outputTokens: Number(r['output_tokens']),
        cacheReadTokens: Number(r['cache_read_tokens']),
        cacheCreationTokens: Number(r['cache_creation_tokens']),
        costUsd: Number(r['cost_usd']),
      };
    },
  };
}
