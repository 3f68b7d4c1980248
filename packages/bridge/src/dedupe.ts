import { createHash } from 'node:crypto';
import type { OutboxRecord } from '@agent-runner/core/ledger';

/**
 * Suppresses repeats: a row whose transport, kind, severity, title and body equal those of a
 * row sent less than `windowMs` ago is not sent again. Memory only (a restart may let one
 * repeat through), pruned as it goes.
 */
export class Deduper {
  private readonly seen = new Map<string, { atMs: number; key: string }>();

  constructor(private readonly windowMs: number) {}

  private fingerprint(row: OutboxRecord): string {
    return createHash('sha256').update(JSON.stringify([row.transport, row.kind, row.severity, row.title, row.body])).digest('base64');
  }

  /** The key of the earlier identical row still inside the window, or undefined. */
  duplicateOf(row: OutboxRecord, nowMs: number): string | undefined {
    if (this.windowMs <= 0) return undefined;
    const hit = this.seen.get(this.fingerprint(row));
    return hit && nowMs - hit.atMs < this.windowMs ? hit.key : undefined;
  }

  /** Remembers a sent row. */
  record(row: OutboxRecord, nowMs: number): void {
    if (this.windowMs <= 0) return;
    if (this.seen.size > 10_000) {
      for (const [k, v] of this.seen) if (nowMs - v.atMs >= this.windowMs) this.seen.delete(k);
    }
    this.seen.set(this.fingerprint(row), { atMs: nowMs, key: row.idempotencyKey });
  }
}
