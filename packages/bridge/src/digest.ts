import { alarmOrigin } from '@agent-runner/core/alarms';
import type { Ledger, RoundRecord } from '@agent-runner/core/ledger';

/** A digest ready to enqueue. */
export interface Digest {
  title: string;
  body: string;
  payload: Record<string, unknown>;
}

/** Round classes that are the provider's passing trouble, not the project's. */
export const TRANSIENT_CLASSES = ['rate_limit', 'overloaded', 'server_error', 'network', 'timeout'] as const;

/** Most rounds a digest reads (a day of one-minute rounds is 1,440). */
export const DIGEST_MAX_ROUNDS = 5000;

/** What healed by itself in a window. */
export interface SelfHealed {
  /** Transient rounds followed (after only transient ones) by an `ok` round, by class. */
  rounds: Record<string, number>;
  /** Transient rounds not yet followed by an `ok` round at the window's end. */
  unresolved: number;
  /** Heal actions of the watchdog by `target action result`. */
  heals: Record<string, number>;
  /** Alarms raised in the window and cleared in it, by cause. */
  alarmsCleared: Record<string, number>;
  /** Alarms raised in the window still open at its end, by cause. */
  alarmsOpen: Record<string, number>;
}

/**
 * The faults of `[sinceMs, nowMs)` that healed by themselves, from the ledger: so an operator
 * sees them once a day here instead of on the phone. A transient round (see
 * {@link TRANSIENT_CLASSES}) counts as healed when the rounds after it were transient too and
 * then one ended `ok`; a round of another class (crash, auth, hang, ...) in between means
 * it did not heal alone. Alarms come from the outbox's `alarm:<id>:raised|cleared` rows.
 */
export function selfHealed(ledger: Ledger, sinceMs: number, nowMs: number): SelfHealed {
  const rounds = ledger.runner
    .lastRounds(DIGEST_MAX_ROUNDS)
    .filter((r) => r.status !== 'running' && r.startedAtMs >= sinceMs && r.startedAtMs < nowMs)
    .reverse();
  const healed: Record<string, number> = {};
  let streak: RoundRecord[] = [];
  for (const r of rounds) {
    const c = r.classification ?? r.status;
    if ((TRANSIENT_CLASSES as readonly string[]).includes(c)) streak.push(r);
    else {
      if (c === 'ok') for (const s of streak) bump(healed, s.classification as string);
      streak = [];
    }
  }
  const heals: Record<string, number> = {};
  for (const h of ledger.watchdog.recentHealActions(1000)) {
    if (h.atMs >= sinceMs && h.atMs < nowMs) bump(heals, `${h.target} ${h.action} ${h.result}`);
  }
  const raised = new Map<string, string>();
  const cleared = new Set<string>();
  for (const row of ledger.outbox.producedBetween(sinceMs, nowMs, 'alarm:')) {
    const m = /^alarm:(\d+):(raised|cleared)$/.exec(row.idempotencyKey);
    if (!m) continue;
    if (m[2] === 'raised') raised.set(m[1] as string, row.kind);
    else cleared.add(m[1] as string);
  }
  const alarmsCleared: Record<string, number> = {};
  const alarmsOpen: Record<string, number> = {};
  for (const [id, cause] of raised) bump(cleared.has(id) ? alarmsCleared : alarmsOpen, cause);
  return { rounds: healed, unresolved: streak.length, heals, alarmsCleared, alarmsOpen };
}

/**
 * The daily digest over `[sinceMs, nowMs)`, from the ledger: rounds and their outcomes,
 * tokens and cost, the faults that healed by themselves ({@link selfHealed}), and the
 * outbox's dead letters. Title `<project>@<host>: daily digest` (host default this machine's).
 */
export function buildDigest(ledger: Ledger, sinceMs: number, nowMs: number, project: string, host?: string): Digest {
  const outcomes = ledger.runner.classificationCounts(sinceMs);
  const totals = ledger.runner.totalsSince(sinceMs);
  const healed = selfHealed(ledger, sinceMs, nowMs);
  const outbox = ledger.outbox.countByStatus();
  const sum = (c: Record<string, number>): number => Object.values(c).reduce((a, b) => a + b, 0);
  const list = (c: Record<string, number>): string => {
    const parts = Object.entries(c)
      .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
      .map(([k, n]) => `${k} ×${n}`);
    return parts.length ? ` (${parts.join(', ')})` : '';
  };
  const outcomeText = Object.entries(outcomes)
    .sort((a, b) => b[1] - a[1])
    .map(([k, n]) => `${k} ${n}`)
    .join(', ');
  const lines = [
    `Rounds: ${totals.rounds}${outcomeText ? ` (${outcomeText})` : ''}`,
    `Cost: $${totals.costUsd.toFixed(2)}; tokens in ${totals.inputTokens}, out ${totals.outputTokens}`,
    `Healed by themselves: ${sum(healed.rounds)} transient rounds${list(healed.rounds)}${healed.unresolved ? `; ${healed.unresolved} not yet followed by an ok round` : ''}`,
    `Watchdog heals: ${sum(healed.heals)}${list(healed.heals)}`,
    `Alarms raised and cleared: ${sum(healed.alarmsCleared)}${list(healed.alarmsCleared)}${sum(healed.alarmsOpen) ? `; still open: ${sum(healed.alarmsOpen)}${list(healed.alarmsOpen)}` : ''}`,
    `Notifications dead-lettered (all time): ${outbox.dead}`,
  ];
  return {
    title: `${alarmOrigin(project, host)}: daily digest`,
    body: lines.join('\n'),
    payload: {
      since: new Date(sinceMs).toISOString(),
      until: new Date(nowMs).toISOString(),
      rounds: totals.rounds,
      outcomes,
      cost_usd: totals.costUsd,
      self_healed: healed.rounds,
      unresolved: healed.unresolved,
      heals: healed.heals,
      alarms_cleared: healed.alarmsCleared,
      alarms_open: healed.alarmsOpen,
    },
  };
}

function bump(c: Record<string, number>, k: string): void {
  c[k] = (c[k] ?? 0) + 1;
}
