import type { Ledger } from '@agent-runner/core/ledger';
import type { HostSnapshot } from './snapshot.js';

/** What the dashboard plots for one host: the last day on one time axis, and the last days' totals. */
export interface PageHistory {
  /** The time axis, ms since the epoch (the last 24 h). */
  from_ms: number;
  to_ms: number;
  /** Rounds that started in the window, oldest first; `end_ms` null while running. */
  rounds: Array<{ round: number; start_ms: number; end_ms: number | null; class: string }>;
  /** The watchdog's heal actions in the window (local only). */
  heals: Array<{ at_ms: number; target: string; action: string; result: string }>;
  /** Alerts raised in the window, active or cleared since (local only). */
  alerts: Array<{ at_ms: number; cleared_ms: number | null; detector: string; severity: string }>;
  /** One entry per UTC day, oldest first, today last. */
  days: Array<{ day: string; rounds: number; cost_usd: number; input_tokens: number; output_tokens: number }>;
}

const DAY_MS = 86_400_000;
/** Rounds read for the timeline at most: a day of one-minute rounds and then some. */
const MAX_ROUNDS = 2000;

const dayStart = (ms: number): number => Math.floor(ms / DAY_MS) * DAY_MS;

/**
 * The local project's history from its ledger: the rounds, heal actions and alerts of the last
 * 24 h, and the totals of each of the last `days` UTC days (today included).
 */
export function ledgerHistory(ledger: Ledger, nowMs: number, days = 7): PageHistory {
  const from = nowMs - DAY_MS;
  const rounds = ledger.runner
    .lastRounds(MAX_ROUNDS)
    .filter((r) => r.startedAtMs >= from)
    .reverse()
    .map((r) => ({ round: r.round, start_ms: r.startedAtMs, end_ms: r.endedAtMs, class: r.classification ?? r.status }));
  const heals = ledger.watchdog
    .recentHealActions(200)
    .filter((a) => a.atMs >= from)
    .reverse()
    .map((a) => ({ at_ms: a.atMs, target: a.target, action: a.action, result: a.result }));
  const alerts = ledger.monitor
    .alertsSince(from)
    .map((a) => ({ at_ms: a.raisedAtMs, cleared_ms: a.clearedAtMs, detector: a.detector, severity: a.severity }));
  // Totals since each day's start, differenced: one indexed query per day.
  const starts = Array.from({ length: days }, (_, i) => dayStart(nowMs) - (days - 1 - i) * DAY_MS);
  const since = starts.map((s) => ledger.runner.totalsSince(s));
  const out = starts.map((s, i) => {
    const a = since[i]!;
    const b = since[i + 1] ?? { rounds: 0, costUsd: 0, inputTokens: 0, outputTokens: 0 };
    return {
      day: new Date(s).toISOString().slice(0, 10),
      rounds: a.rounds - b.rounds,
      cost_usd: a.costUsd - b.costUsd,
      input_tokens: a.inputTokens - b.inputTokens,
      output_tokens: a.outputTokens - b.outputTokens,
    };
  });
  return { from_ms: from, to_ms: nowMs, rounds, heals, alerts, days: out };
}

/** A remote host's history from what its snapshot carries: its last rounds and today's totals. */
export function snapshotHistory(s: HostSnapshot, nowMs: number): PageHistory {
  const ms = (iso: string | null): number | null => (iso ? Date.parse(iso) : null);
  const rounds = [...s.rounds]
    .reverse()
    .map((r) => ({ round: r.round, start_ms: Date.parse(r.started_at), end_ms: ms(r.ended_at), class: r.classification ?? r.status }));
  // Older hosts' peek has no token totals.
  const t = s.today as { input_tokens?: number; output_tokens?: number };
  const today = {
    day: new Date(nowMs).toISOString().slice(0, 10),
    rounds: s.today.rounds,
    cost_usd: s.today.cost_usd,
    input_tokens: t.input_tokens ?? 0,
    output_tokens: t.output_tokens ?? 0,
  };
  return { from_ms: nowMs - DAY_MS, to_ms: nowMs, rounds, heals: [], alerts: [], days: [today] };
}
