import type BetterSqlite3 from 'better-sqlite3';
import type { Exec } from './exec.js';
import { fromJsonColumn, int, num, str, toJsonColumn, type Row } from './json.js';

/** Severity of a notification or alert. */
export type Severity = 'info' | 'warning' | 'error' | 'critical';
/** Life of an outbox row: pending -> sending -> sent, or back to pending on failure, or dead. */
export type OutboxStatus = 'pending' | 'sending' | 'sent' | 'dead';

/** How long a `sending` claim holds before another claimant may take the row over (5 min). */
export const DEFAULT_OUTBOX_LEASE_MS = 5 * 60_000;

/** Input of {@link OutboxProducerAccess.enqueue}. */
export interface EnqueueInput {
  /**
   * Unique key of this notification (e.g. `round-finished:42`, `heal:runner:T3:<nonce>`).
   * Enqueueing the same key again is a no-op, so a producer that crashes and redoes its work
   * never notifies twice.
   */
  idempotencyKey: string;
  /** Event kind the notification is about (`round.finished`, `heal.action`, ...). */
  kind: string;
  severity: Severity;
  title: string;
  body?: string;
  /** Structured data for transports that render it, stored as JSON. */
  payload?: unknown;
  /**
   * Transport this row is for (`telegram`, `slack`, ...); absent = the bridge routes it. The
   * bridge may fan a row out into one row per transport, keyed `<key>:<transport>`, so a
   * failure on one transport does not resend on the others.
   */
  transport?: string;
  /** Default the ledger clock. */
  createdAtMs?: number;
  /** Not before this time, ms since epoch (default: now). */
  notBeforeMs?: number;
}

/** One row of `outbox`. */
export interface OutboxRecord {
  id: number;
  idempotencyKey: string;
  kind: string;
  severity: Severity;
  title: string;
  body: string;
  payload: unknown;
  transport: string | null;
  createdAtMs: number;
  status: OutboxStatus;
  /** Claims so far (incremented at claim time, so a bridge crash mid-send counts). */
  attempts: number;
  nextAttemptAtMs: number;
  claimedBy: string | null;
  claimedAtMs: number | null;
  lastError: string | null;
  sentAtMs: number | null;
}

/** Producer side of `outbox`. Writers: any process (insert only). Readers: anyone. */
export interface OutboxProducerAccess {
  /**
   * Queues a notification unless one with the same idempotency key exists.
   * @returns the row id (existing or new) and whether this call inserted it.
   */
  enqueue(input: EnqueueInput): { id: number; inserted: boolean };
  getOutbox(id: number): OutboxRecord | undefined;
  /** Row counts per status (every status present, 0 when none). */
  countByStatus(): Record<OutboxStatus, number>;
}

/** Dispatcher side of `outbox`. Writer: the bridge only. */
export interface OutboxDispatchAccess {
  /**
   * Atomically claims up to `limit` rows for `claimant`: `pending` rows due at `nowMs`, and
   * `sending` rows whose claim is older than `leaseMs` (their claimant died mid-send). Claimed
   * rows become `sending` with `claimedBy`/`claimedAtMs` set and `attempts` + 1. Two claimants
   * never get the same row within one lease. Oldest due first.
   */
  claimDue(nowMs: number, limit: number, claimant: string, leaseMs?: number): OutboxRecord[];
  /** `sending` -> `sent`. False when the row is not `sending` (e.g. already sent or dead). */
  markSent(id: number, sentAtMs?: number): boolean;
  /** `sending` -> `pending`, retried at `nextAttemptAtMs`; keeps `error` as `lastError`. */
  markFailed(id: number, error: string, nextAttemptAtMs: number): boolean;
  /** `pending`/`sending` -> `dead` (given up: permanent error or too many attempts). */
  markDead(id: number, error: string): boolean;
}

function toOutbox(r: Row): OutboxRecord {
  return {
    id: Number(r['id']),
    idempotencyKey: String(r['idempotency_key']),
    kind: String(r['kind']),
    severity: String(r['severity']) as Severity,
    title: String(r['title']),
    body: String(r['body']),
    payload: fromJsonColumn(str(r, 'payload')),
    transport: str(r, 'transport'),
    createdAtMs: Number(r['created_at_ms']),
    status: String(r['status']) as OutboxStatus,
    attempts: Number(r['attempts']),
    nextAttemptAtMs: Number(r['next_attempt_at_ms']),
    claimedBy: str(r, 'claimed_by'),
    claimedAtMs: num(r, 'claimed_at_ms'),
    lastError: str(r, 'last_error'),
    sentAtMs: num(r, 'sent_at_ms'),
  };
}

/** Prepares the statements of both outbox sides once for a connection. */
export function outboxAccess(
  db: BetterSqlite3.Database,
  exec: Exec,
  now: () => number,
): OutboxProducerAccess & OutboxDispatchAccess {
  // ON CONFLICT on the key only: unlike INSERT OR IGNORE, a CHECK or NOT NULL violation
  // (a bug in the producer) still raises instead of being silently dropped.
  const insert = db.prepare(`INSERT INTO outbox
      (idempotency_key, kind, severity, title, body, payload, transport, created_at_ms, next_attempt_at_ms)
    VALUES (@key, @kind, @severity, @title, @body, @payload, @transport, @createdAtMs, @notBeforeMs)
    ON CONFLICT (idempotency_key) DO NOTHING`);
  const byKey = db.prepare(`SELECT id FROM outbox WHERE idempotency_key = ?`);
  const one = db.prepare(`SELECT * FROM outbox WHERE id = ?`);
  const counts = db.prepare(`SELECT status, COUNT(*) AS n FROM outbox GROUP BY status`);
  const claim = db.prepare(`UPDATE outbox SET status = 'sending', claimed_by = @claimant, claimed_at_ms = @now,
      attempts = attempts + 1
    WHERE id IN (
      SELECT id FROM outbox
      WHERE (status = 'pending' AND next_attempt_at_ms <= @now)
         OR (status = 'sending' AND claimed_at_ms <= @now - @leaseMs)
      ORDER BY next_attempt_at_ms, id LIMIT @limit)
    RETURNING *`);
  const sent = db.prepare(`UPDATE outbox SET status = 'sent', sent_at_ms = ?, last_error = NULL
    WHERE id = ? AND status = 'sending'`);
  const failed = db.prepare(`UPDATE outbox SET status = 'pending', last_error = ?, next_attempt_at_ms = ?,
      claimed_at_ms = NULL
    WHERE id = ? AND status = 'sending'`);
  const dead = db.prepare(`UPDATE outbox SET status = 'dead', last_error = ?, claimed_at_ms = NULL
    WHERE id = ? AND status IN ('pending', 'sending')`);

  return {
    enqueue(input) {
      const created = int(input.createdAtMs ?? now());
      const params = {
        key: input.idempotencyKey,
        kind: input.kind,
        severity: input.severity,
        title: input.title,
        body: input.body ?? '',
        payload: toJsonColumn(input.payload),
        transport: input.transport ?? null,
        createdAtMs: created,
        notBeforeMs: int(input.notBeforeMs) ?? created,
      };
      return exec.write('enqueue notification', () => {
        const r = insert.run(params);
        if (r.changes === 1) return { id: Number(r.lastInsertRowid), inserted: true };
        const existing = byKey.get(params.key) as Row;
        return { id: Number(existing['id']), inserted: false };
      });
    },
    getOutbox(id) {
      const r = exec.read('read outbox row', () => one.get(id) as Row | undefined);
      return r === undefined ? undefined : toOutbox(r);
    },
    countByStatus() {
      const out: Record<OutboxStatus, number> = { pending: 0, sending: 0, sent: 0, dead: 0 };
      for (const r of exec.read('count outbox', () => counts.all() as Row[])) {
        out[String(r['status']) as OutboxStatus] = Number(r['n']);
      }
      return out;
    },
    claimDue(nowMs, limit, claimant, leaseMs = DEFAULT_OUTBOX_LEASE_MS) {
      const params = { now: int(nowMs), limit, claimant, leaseMs: int(leaseMs) };
      const rows = exec.write('claim outbox rows', () => claim.all(params) as Row[]);
      // RETURNING order is unspecified; hand rows out in the order they were due.
      return rows.map(toOutbox).sort((a, b) => a.nextAttemptAtMs - b.nextAttemptAtMs || a.id - b.id);
    },
    markSent(id, sentAtMs) {
      const at = int(sentAtMs ?? now());
      return exec.write('mark notification sent', () => sent.run(at, id).changes === 1);
    },
    markFailed(id, error, nextAttemptAtMs) {
      const next = int(nextAttemptAtMs);
      return exec.write('mark notification failed', () => failed.run(error, next, id).changes === 1);
    },
    markDead(id, error) {
      return exec.write('mark notification dead', () => dead.run(error, id).changes === 1);
    },
  };
}
