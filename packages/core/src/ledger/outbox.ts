import type BetterSqlite3 from 'better-sqlite3';
import type { Exec } from './exec.js';
import { fromJsonColumn, int, num, str, textColumn, toJsonColumn, type Row } from './json.js';

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
  /**
   * Hash of what a transport row says (the bridge's, at fan-out). A row that has one takes
   * part in repeat suppression ({@link OutboxDispatchAccess.sentWithFingerprint}); rows
   * without one (alarms, recoveries, replies) are always sent.
   */
  fingerprint?: string;
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
  /** See {@link EnqueueInput.fingerprint}; null when none (or cleared: a suppressed repeat). */
  fingerprint: string | null;
  /** The id the platform gave the sent message (Telegram `message_id`, Slack `ts`, Matrix event id). */
  platformMessageId: string | null;
}

/** Producer side of `outbox`. Writers: any process (insert only). Readers: anyone. */
export interface OutboxProducerAccess {
  /**
   * Queues a notification unless one with the same idempotency key exists.
   * @returns the row id (existing or new) and whether this call inserted it.
   */
  enqueue(input: EnqueueInput): { id: number; inserted: boolean };
  getOutbox(id: number): OutboxRecord | undefined;
  /** The row with idempotency key `key`, if any. */
  findOutbox(key: string): OutboxRecord | undefined;
  /** Row counts per status (every status present, 0 when none). */
  countByStatus(): Record<OutboxStatus, number>;
  /**
   * Producer rows (no transport) created in `[sinceMs, untilMs)` whose key starts with
   * `keyPrefix`, oldest first (the digest counts the day's alarms with `alarm:`).
   */
  producedBetween(sinceMs: number, untilMs: number, keyPrefix: string): OutboxRecord[];
}

/** Options of {@link OutboxDispatchAccess.claimDue}. */
export interface ClaimOptions {
  /**
   * Quiet hours: transport rows below `critical` whose kind is not in `exceptKinds` are left
   * pending (not claimed, and so holding nothing back) until a claim without this option.
   */
  quiet?: { exceptKinds: readonly string[] };
}

/** Dispatcher side of `outbox`. Writer: the bridge only. */
export interface OutboxDispatchAccess {
  /**
   * Atomically claims up to `limit` rows for `claimant`: `pending` rows due at `nowMs`, and
   * `sending` rows whose claim is older than `leaseMs` (their claimant died mid-send). Claimed
   * rows become `sending` with `claimedBy`/`claimedAtMs` set and `attempts` + 1. Two claimants
   * never get the same row within one lease.
   *
   * Rows of one transport come in creation order (`createdAtMs`, then id), head-of-line: a
   * row is not claimed while an earlier row of its transport waits for a retry (`pending`,
   * tried before, not yet due) or is held by another claimant's live lease. So after an
   * outage a transport's messages still arrive in the order they were created. Rows never
   * tried that wait for a later `notBeforeMs` hold nothing back. Returned in creation order.
   */
  claimDue(nowMs: number, limit: number, claimant: string, leaseMs?: number, opts?: ClaimOptions): OutboxRecord[];
  /**
   * `sending` -> `sent`, keeping the id the platform gave the message (a recovery replies to
   * it). False when the row is not `sending` (e.g. already sent or dead).
   */
  markSent(id: number, sentAtMs?: number, platformMessageId?: string): boolean;
  /**
   * `sending` -> `sent` without a send: a repeat of `repeatOfKey`. Its fingerprint is cleared,
   * so the suppression window stays anchored at the message really sent; `lastError` reads
   * `not sent: repeat of <key>`. False when the row is not `sending`.
   */
  markRepeat(id: number, repeatOfKey: string, atMs?: number): boolean;
  /**
   * The newest row of `transport` with `fingerprint` sent at or after `sinceMs` (a repeat
   * arriving now is not sent again), or undefined.
   */
  sentWithFingerprint(transport: string, fingerprint: string, sinceMs: number): { key: string; sentAtMs: number } | undefined;
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
    fingerprint: str(r, 'fingerprint'),
    platformMessageId: str(r, 'platform_message_id'),
  };
}

/** Prepares the statements of both outbox sides once for a connection. */
export function outboxAccess(db: BetterSqlite3.Database, exec: Exec, now: () => number): OutboxProducerAccess & OutboxDispatchAccess {
  // ON CONFLICT on the key only: unlike INSERT OR IGNORE, a CHECK or NOT NULL violation
  // (a bug in the producer) still raises instead of being silently dropped.
  const insert = db.prepare(`INSERT INTO outbox
      (idempotency_key, kind, severity, title, body, payload, transport, created_at_ms, next_attempt_at_ms, fingerprint)
    VALUES (@key, @kind, @severity, @title, @body, @payload, @transport, @createdAtMs, @notBeforeMs, @fingerprint)
    ON CONFLICT (idempotency_key) DO NOTHING`);
  const byKey = db.prepare(`SELECT id FROM outbox WHERE idempotency_key = ?`);
  const one = db.prepare(`SELECT * FROM outbox WHERE id = ?`);
  const oneByKey = db.prepare(`SELECT * FROM outbox WHERE idempotency_key = ?`);
  const counts = db.prepare(`SELECT status, COUNT(*) AS n FROM outbox GROUP BY status`);
  const produced = db.prepare(`SELECT * FROM outbox
    WHERE transport IS NULL AND created_at_ms >= @since AND created_at_ms < @until AND substr(idempotency_key, 1, length(@prefix)) = @prefix
    ORDER BY created_at_ms, id`);
  // Head-of-line per transport: `holds` are the rows waiting for their retry or held by
  // another live claimant; a row behind one of its transport is not claimed. Materialized
  // once per claim, so a long queue costs one pass, not a scan per row. The literal
  // `status IN ('pending', 'sending')` lets SQLite use the partial index outbox_due (it
  // cannot infer it from the OR), so sent history is never scanned.
  const claim = db.prepare(`UPDATE outbox SET status = 'sending', claimed_by = @claimant, claimed_at_ms = @now,
      attempts = attempts + 1
    WHERE id IN (
      WITH holds AS MATERIALIZED (
        SELECT transport, created_at_ms AS c, id FROM outbox
        WHERE status IN ('pending', 'sending') AND transport IS NOT NULL
          AND ((status = 'pending' AND attempts > 0 AND next_attempt_at_ms > @now)
            OR (status = 'sending' AND claimed_at_ms > @now - @leaseMs AND claimed_by <> @claimant)))
      SELECT o.id FROM outbox o
      WHERE o.status IN ('pending', 'sending')
        AND ((o.status = 'pending' AND o.next_attempt_at_ms <= @now)
          OR (o.status = 'sending' AND o.claimed_at_ms <= @now - @leaseMs))
        AND (@quiet = 0 OR o.transport IS NULL OR o.severity = 'critical'
          OR o.kind IN (SELECT value FROM json_each(@exceptKinds)))
        AND (o.transport IS NULL OR NOT EXISTS (
          SELECT 1 FROM holds h WHERE h.transport = o.transport AND (h.c, h.id) < (o.created_at_ms, o.id)))
      ORDER BY o.created_at_ms, o.id LIMIT @limit)
    RETURNING *`);
  const sent = db.prepare(`UPDATE outbox SET status = 'sent', sent_at_ms = ?, last_error = NULL, platform_message_id = ?
    WHERE id = ? AND status = 'sending'`);
  const repeat = db.prepare(`UPDATE outbox SET status = 'sent', sent_at_ms = ?, last_error = ?, fingerprint = NULL
    WHERE id = ? AND status = 'sending'`);
  const sameSent = db.prepare(`SELECT idempotency_key, sent_at_ms FROM outbox
    WHERE status = 'sent' AND fingerprint IS NOT NULL AND transport = ? AND fingerprint = ? AND sent_at_ms >= ?
    ORDER BY sent_at_ms DESC LIMIT 1`);
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
        title: textColumn(input.title),
        body: textColumn(input.body ?? ''),
        payload: toJsonColumn(input.payload),
        transport: input.transport ?? null,
        createdAtMs: created,
        notBeforeMs: int(input.notBeforeMs) ?? created,
        fingerprint: input.fingerprint ?? null,
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
    findOutbox(key) {
      const r = exec.read('read outbox row', () => oneByKey.get(key) as Row | undefined);
      return r === undefined ? undefined : toOutbox(r);
    },
    producedBetween(sinceMs, untilMs, keyPrefix) {
      return exec.read('list outbox rows', () =>
        (produced.all({ since: int(sinceMs), until: int(untilMs), prefix: keyPrefix }) as Row[]).map(toOutbox),
      );
    },
    countByStatus() {
      const out: Record<OutboxStatus, number> = { pending: 0, sending: 0, sent: 0, dead: 0 };
      for (const r of exec.read('count outbox', () => counts.all() as Row[])) {
        out[String(r['status']) as OutboxStatus] = Number(r['n']);
      }
      return out;
    },
    claimDue(nowMs, limit, claimant, leaseMs = DEFAULT_OUTBOX_LEASE_MS, opts = {}) {
      const params = {
        now: int(nowMs),
        limit,
        claimant,
        leaseMs: int(leaseMs),
        quiet: opts.quiet ? 1 : 0,
        exceptKinds: JSON.stringify(opts.quiet?.exceptKinds ?? []),
      };
      const rows = exec.write('claim outbox rows', () => claim.all(params) as Row[]);
      // RETURNING order is unspecified; hand rows out in creation order.
      return rows.map(toOutbox).sort((a, b) => a.createdAtMs - b.createdAtMs || a.id - b.id);
    },
    markSent(id, sentAtMs, platformMessageId) {
      const at = int(sentAtMs ?? now());
      return exec.write('mark notification sent', () => sent.run(at, platformMessageId ?? null, id).changes === 1);
    },
    markRepeat(id, repeatOfKey, atMs) {
      const at = int(atMs ?? now());
      return exec.write('mark notification a repeat', () => repeat.run(at, `not sent: repeat of ${repeatOfKey}`, id).changes === 1);
    },
    sentWithFingerprint(transport, fingerprint, sinceMs) {
      const r = exec.read('find a sent repeat', () => sameSent.get(transport, fingerprint, int(sinceMs)) as Row | undefined);
      return r === undefined ? undefined : { key: String(r['idempotency_key']), sentAtMs: Number(r['sent_at_ms']) };
    },
    markFailed(id, error, nextAttemptAtMs) {
      const next = int(nextAttemptAtMs);
      return exec.write('mark notification failed', () => failed.run(textColumn(error), next, id).changes === 1);
    },
    markDead(id, error) {
      return exec.write('mark notification dead', () => dead.run(textColumn(error), id).changes === 1);
    },
  };
}
