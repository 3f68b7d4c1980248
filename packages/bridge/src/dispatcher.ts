import type { BridgeConfig } from '@agent-runner/core/config';
import { DEFAULT_OUTBOX_LEASE_MS, type ClaimOptions, type Ledger, type OutboxRecord } from '@agent-runner/core/ledger';
import { isNoSpace } from '@agent-runner/core/disk';
import { redactText } from '@agent-runner/core/redact';
import { sleep } from '@agent-runner/core/sleep';
import type { LogPriority } from '@agent-runner/core/unit';
import { NoSpaceGuard } from './no-space.js';
import { RateLimiter } from './rate-limit.js';
import { failuresBefore, retryDelayMs, tagError } from './retry.js';
import { OPERATOR_KINDS, repeatFingerprint, routeTargets } from './route.js';
import { localOffset, quietUntil, type OffsetFn } from './schedule.js';
import { SendError } from './send-error.js';
import type { ReplyTarget, SendResult, Transport } from './transport.js';

/** What the dispatcher needs. */
export interface DispatcherDeps {
  ledger: Ledger;
  /** Configured transports by `[notify.NAME]` name. */
  transports: ReadonlyMap<string, Transport>;
  config: BridgeConfig;
  /** Claimant id written into claimed rows (`bridge:<pid>:<nonce>`). */
  claimant: string;
  /** Wall clock, ms since epoch. */
  now: () => number;
  /** When this incarnation started (rows claimed before it belong to a dead bridge), ms. */
  startedAtMs: number;
  random?: () => number;
  offsetMin?: OffsetFn;
  log: (priority: LogPriority, line: string) => void;
  /** Told about every dead-lettered row (the daemon emits `notification_dead_lettered`). */
  onDeadLetter: (row: OutboxRecord, error: string) => void;
  /** Called when capacity frees up or new rows became due (the loop should pump again). */
  wake: () => void;
  /** Reports ledger writes that fail for a full disk (shared with the daemon's loop; default its own). */
  guard?: NoSpaceGuard;
  /** Rows claimed and held at once (default 64). */
  maxInFlight?: number;
  /** Longest in-process wait for a rate-limit slot before deferring the row in the ledger, ms (default 5000). */
  holdMs?: number;
}

/** Counters for heartbeats and benchmarks. */
export interface DispatchStats {
  sent: number;
  failed: number;
  dead: number;
  deferred: number;
  deduplicated: number;
  routed: number;
}

/** Kinds quiet hours never hold back (the operator asked for them). */
const QUIET_EXCEPT: ClaimOptions = { quiet: { exceptKinds: [...OPERATOR_KINDS] } };

/**
 * Drains the ledger outbox: claims due rows, fans producer rows out into one row per matching
 * transport (`<key>:<transport>`, with its repeat fingerprint, in the same transaction that
 * closes the parent, so a crash never loses or doubles the fan-out), and delivers transport
 * rows through one sequential lane per transport (one slow or failing platform never holds
 * up the others).
 *
 * Order: a transport's rows go out in creation order. A row that failed or was deferred
 * waits in the ledger for its retry and holds back the later rows of its transport (the
 * lane hands them back; the ledger does not hand them out again before it), so after an
 * outage a stop never arrives before the alert that caused it.
 *
 * Per row: in quiet hours only critical rows and operator replies are claimed; a repeat (same
 * fingerprint as a row of the transport sent within `dedupe_window_s`, looked up in the
 * ledger, so bridge restarts do not let it through) is closed without sending; a recovery
 * replies to its alarm's message on that transport; the per-transport rate limit (and a
 * 429's `Retry-After`) holds a row briefly or defers it; failures retry with exponential
 * back-off (see retry.ts) and are dead-lettered after `max_attempts` failures or at once
 * when permanent (4xx). Rows claimed by a previous incarnation (dead mid-send) are taken over
 * at once instead of after the 5-minute lease. Ledger writes that fail for a full disk are
 * kept in order and written on a later pump.
 */
export class Dispatcher {
  readonly stats: DispatchStats = { sent: 0, failed: 0, dead: 0, deferred: 0, deduplicated: 0, routed: 0 };
  private readonly lanes = new Map<string, Lane>();
  private readonly limiters = new Map<string, RateLimiter>();
  private readonly random: () => number;
  private readonly offsetMin: OffsetFn;
  private readonly maxInFlight: number;
  private readonly guard: NoSpaceGuard;
  /** Ledger writes that failed for a full disk, oldest first. */
  private readonly unsaved: Array<{ what: string; write: () => void }> = [];
  private inFlight = 0;
  private readonly held = new Set<number>();
  private stopping = false;

  constructor(private readonly d: DispatcherDeps) {
    this.random = d.random ?? Math.random;
    this.offsetMin = d.offsetMin ?? localOffset;
    this.maxInFlight = d.maxInFlight ?? 64;
    this.guard = d.guard ?? new NoSpaceGuard(d.log);
    for (const t of d.transports.values()) this.limiters.set(t.name, new RateLimiter(t.config.max_per_minute));
  }

  /** Rows claimed and not yet closed. */
  get pending(): number {
    return this.inFlight;
  }

  /**
   * Writes what a full disk held back, then claims what is due and hands it to the lanes
   * (producer rows are routed synchronously).
   * @returns rows claimed; 0 when nothing was due, no capacity is free or the disk is full.
   */
  pump(): number {
    if (!this.flush()) return 0;
    // Refill in batches (below half capacity): one claim and one routing commit per batch
    // instead of per row.
    if (this.stopping || this.inFlight > this.maxInFlight / 2) return 0;
    let total = 0;
    for (;;) {
      const room = this.maxInFlight - this.inFlight;
      if (room <= 0) return total;
      const now = this.d.now();
      const lease = Math.min(DEFAULT_OUTBOX_LEASE_MS, Math.max(1, now - this.d.startedAtMs + 1));
      const quiet = quietUntil(this.d.config.quiet_hours, now, this.offsetMin) !== undefined ? QUIET_EXCEPT : {};
      const rows = this.guard.run('claim notifications', () => this.d.ledger.bridge.claimDue(now, room, this.d.claimant, lease, quiet));
      if (rows === undefined || rows.length === 0) return total;
      this.guard.ok();
      total += rows.length;
      const parents = rows.filter((r) => r.transport === null);
      if (parents.length > 0) this.save('route notifications', () => this.route(parents));
      for (const row of rows) {
        // A row still queued here after a whole lease (a slow platform) was claimed again:
        // that only renewed its lease; it must not be queued twice.
        if (row.transport === null || this.held.has(row.id)) continue;
        this.held.add(row.id);
        this.lane(row.transport).push(row);
      }
    }
  }

  /** Stops claiming, lets each lane finish the send in progress, and releases queued rows (due at once for the next incarnation). */
  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all([...this.lanes.values()].map((l) => l.stop()));
  }

  /** Runs a ledger write now, or after the writes a full disk held back (in order). */
  private save(what: string, write: () => void): void {
    if (this.unsaved.length === 0) {
      try {
        write();
        this.guard.ok();
        return;
      } catch (e) {
        if (!isNoSpace(e)) throw e;
        this.guard.noSpace(what);
      }
    }
    this.unsaved.push({ what, write });
  }

  /** Writes the held-back writes; false while the disk is still full. */
  private flush(): boolean {
    while (this.unsaved.length > 0) {
      const next = this.unsaved[0] as { what: string; write: () => void };
      try {
        next.write();
        this.guard.ok();
      } catch (e) {
        if (isNoSpace(e)) {
          this.guard.noSpace(next.what);
          return false;
        }
        // Not a full disk: the row's lease hands it out again.
        this.d.log('err', `${next.what}: ${(e as Error).message}`);
      }
      this.unsaved.shift();
    }
    return true;
  }

  /** Fans producer rows out, all in one transaction (one commit per claimed batch). */
  private route(rows: readonly OutboxRecord[]): void {
    const { ledger } = this.d;
    const routed = ledger.atomically(() =>
      rows.map((row) => {
        const targets = routeTargets(row, this.d.transports.values());
        for (const name of targets) {
          const fingerprint = repeatFingerprint(row, name);
          ledger.outbox.enqueue({
            idempotencyKey: `${row.idempotencyKey}:${name}`,
            kind: row.kind,
            severity: row.severity,
            title: row.title,
            body: row.body,
            payload: row.payload,
            transport: name,
            createdAtMs: row.createdAtMs,
            ...(fingerprint !== undefined ? { fingerprint } : {}),
          });
        }
        ledger.bridge.markSent(row.id, this.d.now());
        return { row, targets };
      }),
    );
    this.stats.routed += rows.length;
    for (const { row, targets } of routed) {
      if (targets.length === 0)
        this.d.log('info', `notification ${row.idempotencyKey} (${row.kind}, ${row.severity}) matches no transport`);
    }
  }

  private lane(name: string): Lane {
    let l = this.lanes.get(name);
    if (!l) {
      l = new Lane(
        (row) => this.deliver(row),
        (row, why) => {
          try {
            this.release(row, why, this.d.now());
          } finally {
            this.closed(row.id);
          }
        },
      );
      this.lanes.set(name, l);
    }
    this.inFlight += 1;
    return l;
  }

  private closed(id: number): void {
    this.held.delete(id);
    this.inFlight -= 1;
    this.d.wake();
  }

  /** Back to `pending` without counting a failure, due at `untilMs`. */
  private release(row: OutboxRecord, why: string, untilMs: number): void {
    this.save(
      `defer notification ${row.idempotencyKey}`,
      () => void this.d.ledger.bridge.markFailed(row.id, tagError(failuresBefore(row), row.attempts, `deferred: ${why}`), untilMs),
    );
    this.stats.deferred += 1;
  }

  private dead(row: OutboxRecord, error: string): void {
    const text = redactText(error);
    this.save(
      `dead-letter notification ${row.idempotencyKey}`,
      () => void this.d.ledger.bridge.markDead(row.id, tagError(failuresBefore(row) + 1, row.attempts, text)),
    );
    this.stats.dead += 1;
    this.d.log('err', `notification ${row.idempotencyKey} dead-lettered after ${row.attempts} attempt(s): ${text}`);
    this.d.onDeadLetter(row, text);
  }

  /** @returns true when the row is closed, false when it waits in the ledger for a later try. */
  private async deliver(row: OutboxRecord): Promise<boolean> {
    try {
      return await this.deliverRow(row);
    } catch (e) {
      // A ledger failure while closing the row: the lease will hand it out again.
      this.d.log('err', `notification ${row.idempotencyKey}: ${(e as Error).message}`);
      return true;
    } finally {
      this.closed(row.id);
    }
  }

  private async deliverRow(row: OutboxRecord): Promise<boolean> {
    const { ledger } = this.d;
    const name = row.transport as string;
    const t = this.d.transports.get(name);
    if (!t) {
      this.dead(row, `no [notify.${name}] transport is configured`);
      return true;
    }
    const limiter = this.limiters.get(name) as RateLimiter;
    let now = this.d.now();
    const windowMs = this.d.config.dedupe_window_s * 1000;
    if (row.fingerprint !== null && windowMs > 0) {
      const prior = ledger.bridge.sentWithFingerprint(name, row.fingerprint, now - windowMs + 1);
      if (prior !== undefined) {
        this.save(`close repeat ${row.idempotencyKey}`, () => void ledger.bridge.markRepeat(row.id, prior.key, now));
        this.stats.deduplicated += 1;
        this.d.log('info', `notification ${row.idempotencyKey} not sent: same as ${prior.key} within ${this.d.config.dedupe_window_s} s`);
        return true;
      }
    }
    const wait = limiter.delayMs(now);
    if (wait > (this.d.holdMs ?? 5000)) {
      this.release(row, `rate limit of ${name}`, now + wait);
      return false;
    }
    if (wait > 0) {
      await sleep(wait);
      now = this.d.now();
    }
    const replyTo = this.replyTarget(row, name);
    let result: SendResult;
    try {
      limiter.record(now);
      result = await t.send({
        key: row.idempotencyKey,
        kind: row.kind,
        severity: row.severity,
        title: row.title,
        body: row.body,
        payload: row.payload,
        ...(replyTo ? { replyTo } : {}),
      });
    } catch (e) {
      const se = e instanceof SendError ? e : new SendError(`${name}: ${(e as Error).message}`, { retryable: true });
      now = this.d.now();
      if (se.status === 429 || se.retryAfterMs !== undefined) limiter.block(now + (se.retryAfterMs ?? 1000));
      const failures = failuresBefore(row) + 1;
      if (!se.retryable) {
        this.dead(row, `permanent: ${se.message}`);
        return true;
      }
      if (failures >= this.d.config.max_attempts) {
        this.dead(row, se.message);
        return true;
      }
      const delay = retryDelayMs(failures, se.retryAfterMs, this.random);
      this.save(
        `retry notification ${row.idempotencyKey}`,
        () => void ledger.bridge.markFailed(row.id, tagError(failures, row.attempts, redactText(se.message)), now + delay),
      );
      this.stats.failed += 1;
      this.d.log(
        'warning',
        `notification ${row.idempotencyKey} via ${name} failed (${failures}/${this.d.config.max_attempts}), retry in ${Math.round(delay / 1000)} s: ${redactText(se.message)}`,
      );
      return false;
    }
    now = this.d.now();
    const platformId = result.platformMessageId;
    this.save(`mark notification ${row.idempotencyKey} sent`, () => void ledger.bridge.markSent(row.id, now, platformId));
    this.stats.sent += 1;
    return true;
  }

  /** The alarm a recovery answers (`payload.reply_to`), as sent on this transport. */
  private replyTarget(row: OutboxRecord, transport: string): ReplyTarget | undefined {
    const to = (row.payload as { reply_to?: unknown } | null)?.reply_to;
    if (typeof to !== 'string') return undefined;
    const alarm = this.d.ledger.outbox.findOutbox(`${to}:${transport}`);
    if (alarm?.status !== 'sent') return undefined;
    return { key: alarm.idempotencyKey, platformMessageId: alarm.platformMessageId };
  }
}

/**
 * One transport's sequential delivery queue. When a row is not closed (it waits for a retry
 * in the ledger), the rows queued behind it are handed back, so none overtakes it.
 */
class Lane {
  private readonly queue: OutboxRecord[] = [];
  private running: Promise<void> | undefined;
  private stopping = false;

  constructor(
    private readonly deliver: (row: OutboxRecord) => Promise<boolean>,
    private readonly release: (row: OutboxRecord, why: string) => void,
  ) {}

  push(row: OutboxRecord): void {
    this.queue.push(row);
    this.running ??= this.run().finally(() => (this.running = undefined));
  }

  private async run(): Promise<void> {
    for (let row = this.queue.shift(); row !== undefined; row = this.queue.shift()) {
      if (this.stopping) {
        this.queue.unshift(row);
        break;
      }
      if (!(await this.deliver(row))) this.releaseAll(`behind ${row.idempotencyKey}`);
    }
  }

  private releaseAll(why: string): void {
    for (let row = this.queue.shift(); row !== undefined; row = this.queue.shift()) {
      try {
        this.release(row, why);
      } catch {
        // a ledger error (SQLITE_BUSY, say): the lease hands it out again
      }
    }
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await this.running;
    this.releaseAll('bridge stopping');
  }
}
