import type { EventRecord } from '@agent-runner/core/events';

/** One finished round as the detectors see it (from its `round_end` event). */
export interface RoundOutcome {
  round: number | undefined;
  classification: string;
  exit_code: number | null;
  signal: string | null;
  duration_s: number;
  /** The supervisor kill that ended it (`timeout`, `inactivity`, `grace`, `fatal`, `operator`). */
  killed_by: string | undefined;
  summary: string;
  /** Event time, epoch ms. */
  atMs: number;
  /**
   * Productive: `ok` and the agent reported a result (stream evidence) or the round changed
   * the tree (the runner committed or stashed its work, or HEAD moved) — not merely exit 0.
   */
  productive: boolean;
}

/** Rounds kept in memory; detectors look at the newest `window_rounds` of them. */
const KEEP_ROUNDS = 50;

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/**
 * The running summary of a host's event stream that detectors need, updated one event at a
 * time: each poll costs O(new events) and the memory is bounded (last {@link KEEP_ROUNDS}
 * rounds, a few counters), never O(history).
 */
export class EventWindow {
  readonly rounds: RoundOutcome[] = [];
  /** Epoch ms of the newest runner event seen. */
  lastRunnerEventMs: number | undefined;
  /** Epoch ms when the monitor started watching (baseline for "never seen"). */
  readonly sinceMs: number;
  /** Reason of the last `serve_stopped` not followed by a `serve_started`. */
  stoppedReason: string | undefined;
  /** Open back-off (from `backoff_started`, closed by the next `round_start`). */
  backoff: { class: string; untilMs: number } | undefined;
  /** Last productive round (see {@link RoundOutcome.productive}), epoch ms, and its number. */
  lastProductiveMs: number | undefined;
  lastProductiveRound: number | undefined;
  /** Rounds finished since the last productive one. */
  roundsSinceProductive = 0;
  /**
   * When the runner last started after a deliberate stop (a `serve_stopped` with any exit but
   * 75): the silence clock does not count the time it was stopped on purpose. A heal restart
   * (exit 75, or a start with no stop seen) does not reset it, so restarts cannot hide silence.
   */
  runStartMs: number | undefined;
  private stoppedOnPurpose = true;
  /** The runner said it paused on an authentication failure (`auth_paused`) and has not recovered, stopped or restarted since. */
  authPaused = false;
  /** Rounds in a row whose leftovers were stashed, with no commit since. */
  stashChain = 0;
  /** Stash SHAs of the current chain (evidence; newest last, at most 10). */
  stashShas: string[] = [];
  /** Heal targets whose circuit breaker the watchdog reported open. */
  readonly breakersOpen = new Set<string>();
  /** Transient class recovered from most recently (clears `rate_limit_active`). */
  recoveredAtMs: number | undefined;
  /** Events ingested so far (for metrics and the poll-cost bench). */
  ingested = 0;

  constructor(sinceMs: number) {
    this.sinceMs = sinceMs;
  }

  /** Folds one event into the summary. Events of other units than the runner/watchdog are ignored. */
  ingest(e: EventRecord): void {
    this.ingested++;
    const atMs = Date.parse(e.ts);
    if (e.unit === 'runner' && Number.isFinite(atMs)) {
      this.lastRunnerEventMs = Math.max(this.lastRunnerEventMs ?? 0, atMs);
    }
    switch (e.kind) {
      case 'serve_started':
        this.stoppedReason = undefined;
        this.backoff = undefined;
        this.authPaused = false;
        if (this.stoppedOnPurpose && Number.isFinite(atMs)) this.runStartMs = atMs;
        this.stoppedOnPurpose = false;
        break;
      case 'serve_stopped':
        this.stoppedReason = str(e['reason']) ?? 'unknown';
        this.stoppedOnPurpose = num(e['exit_code']) !== 75;
        this.authPaused = false;
        break;
      case 'auth_paused':
        this.authPaused = true;
        break;
      case 'auth_recovered':
        this.authPaused = false;
        break;
      case 'backoff_started': {
        const until = Date.parse(String(e['until']));
        if (Number.isFinite(until)) this.backoff = { class: str(e['class']) ?? 'unknown', untilMs: until };
        break;
      }
      case 'round_start':
        this.backoff = undefined;
        break;
      case 'transient_error_recovered':
        this.recoveredAtMs = atMs;
        break;
      case 'round_end':
        this.roundEnd(e, atMs);
        break;
      case 'vcs_committed':
        this.changedRound = e.round;
        this.resetChain();
        break;
      case 'vcs_stashed': {
        // The runner stashes a round's leftovers before its round_end (same round number).
        this.stashedRound = e.round;
        this.changedRound = e.round;
        this.stashChain++;
        this.stashShas.push(String(e['sha']));
        if (this.stashShas.length > 10) this.stashShas.shift();
        break;
      }
      case 'heal_action':
        if (e['tier'] === 4 || e['action'] === 'circuit_break') this.breakersOpen.add(String(e['target']));
        break;
      case 'heal_verdict_changed':
        if (e['to'] === 'circuit_broken') this.breakersOpen.add(String(e['target']));
        else if (e['from'] === 'circuit_broken') this.breakersOpen.delete(String(e['target']));
        break;
      case 'heal_breaker_reset':
        this.breakersOpen.delete(String(e['target']));
        break;
      default:
        break;
    }
  }

  private stashedRound: number | undefined;
  /** Round whose work the runner committed or stashed (its vcs event precedes its round_end). */
  private changedRound: number | undefined;

  private productive(r: RoundOutcome): void {
    r.productive = true;
    if (r.atMs >= (this.lastProductiveMs ?? -Infinity)) {
      this.lastProductiveMs = r.atMs;
      this.lastProductiveRound = r.round;
    }
    this.roundsSinceProductive = 0;
  }

  /**
   * The work tree's HEAD moved during the newest finished round (an agent that commits by
   * itself): that round, when `ok`, was productive.
   */
  headMoved(): void {
    const last = this.rounds.at(-1);
    if (last && last.classification === 'ok' && !last.productive) this.productive(last);
  }

  private resetChain(): void {
    this.stashChain = 0;
    this.stashShas = [];
  }

  private roundEnd(e: EventRecord, atMs: number): void {
    const classification = str(e['classification']) ?? 'unknown';
    const evidence = Array.isArray(e['evidence']) ? (e['evidence'] as Array<Record<string, unknown>>) : [];
    const changed = this.changedRound !== undefined && this.changedRound === e.round;
    const outcome: RoundOutcome = {
      round: e.round,
      classification,
      exit_code: num(e['exit_code']) ?? null,
      signal: str(e['signal']) ?? null,
      duration_s: num(e['duration_s']) ?? 0,
      killed_by: str(e['killed_by']),
      summary: (str(e['summary']) ?? '').slice(0, 200),
      atMs,
      productive: false,
    };
    // A round that left a clean tree (nothing stashed for it) breaks the chain.
    if (this.stashedRound === undefined || this.stashedRound !== e.round) this.resetChain();
    this.rounds.push(outcome);
    if (this.rounds.length > KEEP_ROUNDS) this.rounds.shift();
    if (classification === 'ok' && (changed || evidence.some((x) => x && x['source'] === 'stream'))) this.productive(outcome);
    else this.roundsSinceProductive++;
  }

  /** The newest `n` finished rounds, oldest first. */
  lastRounds(n: number): RoundOutcome[] {
    return this.rounds.slice(-n);
  }
}
