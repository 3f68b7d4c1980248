import { createHash } from 'node:crypto';
import { SEVERITIES } from '@agent-runner/core/config';
import type { OutboxRecord } from '@agent-runner/core/ledger';
import type { Transport } from './transport.js';

/** Kinds the bridge itself produces that bypass `min_severity` (an operator asked for them). */
export const OPERATOR_KINDS = new Set(['digest', 'command_reply', 'notify_test']);

const rank = (s: string): number => SEVERITIES.indexOf(s as (typeof SEVERITIES)[number]);

/**
 * Names of the transports a producer's row (one without `transport`) goes to: enabled
 * transports whose `min_severity` the row reaches and whose `kinds` list (when given)
 * includes its kind. Digests and replies skip the severity filter, not the `kinds` list.
 */
export function routeTargets(row: Pick<OutboxRecord, 'kind' | 'severity'>, transports: Iterable<Transport>): string[] {
  const out: string[] = [];
  for (const t of transports) {
    const c = t.config;
    if (!c.enabled) continue;
    if (c.kinds && !c.kinds.includes(row.kind)) continue;
    if (!OPERATOR_KINDS.has(row.kind) && rank(row.severity) < rank(c.min_severity)) continue;
    out.push(t.name);
  }
  return out;
}

/** True for an alarm or its recovery (payload `phase`): once per episode by their keys already. */
export function isAlarmRow(row: Pick<OutboxRecord, 'payload'>): boolean {
  const phase = (row.payload as { phase?: unknown } | null)?.phase;
  return phase === 'alarm' || phase === 'recovery';
}

/**
 * The repeat fingerprint of `row` sent to `transport`: base64 SHA-256 of transport, kind,
 * severity, title and body. Undefined for rows that are never suppressed as repeats:
 * operator kinds (asked for) and alarms/recoveries (their keys make them once per episode).
 */
export function repeatFingerprint(
  row: Pick<OutboxRecord, 'kind' | 'severity' | 'title' | 'body' | 'payload'>,
  transport: string,
): string | undefined {
  if (OPERATOR_KINDS.has(row.kind) || isAlarmRow(row)) return undefined;
  return createHash('sha256')
    .update(JSON.stringify([transport, row.kind, row.severity, row.title, row.body]))
    .digest('base64');
}
