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
  /** `ok` with a result the agent reported (stream evidence), not merely exit status 0. */
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
  /** Last round that produced a result or a commit, epoch ms. */
  lastProductiveMs: number | undefined;
  /** Rounds finished since the last productive one. */
  roundsSinceProductive = 0;
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
        break;
      case 'serve_stopped':
        this.stoppedReason = str(e['reason']) ?? 'unknown';
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
        this.productive(atMs);
        this.resetChain();
        break;
      case 'vcs_stashed': {
        // The runner stashes a round's leftovers before its round_end (same round number).
        this.stashedRound = e.round;
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

  /** Marks work as landed (a result or a commit) at `atMs`. */
  productive(atMs: number): void {
    this.lastProductiveMs = Math.max(this.lastProductiveMs ?? 0, atMs);
    this.roundsSinceProductive = 0;
  }

  private resetChain(): void {
    this.stashChain = 0;
    this.stashShas = [];
  }

  private roundEnd(e: EventRecord, atMs: number): void {
    const classification = str(e['classification']) ?? 'unknown';
    const evidence = Array.isArray(e['evidence']) ? (e['evidence'] as Array<Record<string, unknown>>) : [];
    const productive = classification === 'ok' && evidence.some((x) => x && x['source'] === 'stream');
    const outcome: RoundOutcome = {
      round: e.round,
      classification,
      exit_code: num(e['exit_code']) ?? null,
      signal: str(e['signal']) ?? null,
      duration_s: num(e['duration_s']) ?? 0,
      killed_by: str(e['killed_by']),
      summary: (str(e['summary']) ?? '').slice(0, 200),
      atMs,
      productive,
    };
    // A round that left a clean tree (nothing stashed for it) breaks the chain.
    if (this.stashedRound === undefined || this.stashedRound !== e.round) this.resetChain();
    this.rounds.push(outcome);
    if (this.rounds.length > KEEP_ROUNDS) this.rounds.shift();
    if (productive) this.productive(atMs);
    else this.roundsSinceProductive++;
  }

  /** The newest `n` finished rounds, oldest first. */
  lastRounds(n: number): RoundOutcome[] {
    return this.rounds.slice(-n);
  }
}
