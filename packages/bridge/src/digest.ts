import type { Ledger } from '@agent-runner/core/ledger';

/** A digest ready to enqueue. */
export interface Digest {
  title: string;
  body: string;
  payload: Record<string, unknown>;
}

/**
 * The daily digest over `[sinceMs, nowMs)`, from the ledger: rounds and their outcomes,
 * tokens and cost, throttled rounds (rate limit / overload), heal actions, and the outbox's
 * dead letters.
 */
export function buildDigest(ledger: Ledger, sinceMs: number, nowMs: number, project: string): Digest {
  const outcomes = ledger.runner.classificationCounts(sinceMs);
  const totals = ledger.runner.totalsSince(sinceMs);
  const throttled = (outcomes['rate_limit'] ?? 0) + (outcomes['overloaded'] ?? 0);
  const heals = ledger.watchdog.recentHealActions(1000).filter((h) => h.atMs >= sinceMs && h.atMs < nowMs);
  const healCounts: Record<string, number> = {};
  for (const h of heals) healCounts[`${h.target} ${h.action} ${h.result}`] = (healCounts[`${h.target} ${h.action} ${h.result}`] ?? 0) + 1;
  const outbox = ledger.outbox.countByStatus();
  const outcomeText = Object.entries(outcomes)
    .sort((a, b) => b[1] - a[1])
    .map(([k, n]) => `${k} ${n}`)
    .join(', ');
  const lines = [
    `Rounds: ${totals.rounds}${outcomeText ? ` (${outcomeText})` : ''}`,
    `Cost: $${totals.costUsd.toFixed(2)}; tokens in ${totals.inputTokens}, out ${totals.outputTokens}`,
    `Throttled rounds: ${throttled}`,
    `Heals: ${heals.length}${heals.length ? ` (${Object.entries(healCounts).map(([k, n]) => `${k} ×${n}`).join('; ')})` : ''}`,
    `Notifications dead-lettered (all time): ${outbox.dead}`,
  ];
  return {
    title: `${project}: daily digest`,
    body: lines.join('\n'),
    payload: { since: new Date(sinceMs).toISOString(), until: new Date(nowMs).toISOString(), rounds: totals.rounds, outcomes, cost_usd: totals.costUsd, throttled, heals: heals.length },
  };
}
