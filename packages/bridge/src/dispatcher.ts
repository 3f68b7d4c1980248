import type { BridgeConfig } from '@agent-runner/core/config';
import { DEFAULT_OUTBOX_LEASE_MS, type Ledger, type OutboxRecord } from '@agent-runner/core/ledger';
import { redactText } from '@agent-runner/core/redact';
import { Deduper } from './dedupe.js';
import { RateLimiter } from './rate-limit.js';
import { failuresBefore, retryDelayMs, tagError } from './retry.js';
import { OPERATOR_KINDS, routeTargets } from './route.js';
import { localOffset, quietUntil, type OffsetFn } from './schedule.js';
import { SendError } from './send-error.js';
import type { Transport } from './transport.js';

/** syslog priorities of the bridge's log lines. */
export type LogPriority = 'err' | 'warning' | 'notice' | 'info';

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

/** Kinds never held back by quiet hours or deduplicated (the operator asked for them). */
const ALWAYS_NOW = OPERATOR_KINDS;

/**
 * Drains the ledger outbox: claims due rows, fans producer rows out into one row per matching
 * transport (`<key>:<transport>`, in the same transaction that closes the parent, so a crash
 * never loses or doubles the fan-out), and delivers transport rows through one sequential lane
 * per transport (order kept; one slow or failing platform never holds up the others).
 *
 * Per row: quiet hours defer non-critical rows to the window's end; repeats inside
 * `dedupe_window_s` are closed without sending; the per-transport rate limit (and a 429's
 * `Retry-After`) holds a row briefly or defers it; failures retry with exponential back-off
 * (see retry.ts) and are dead-lettered after `max_attempts` failures or at once when
 * permanent (4xx). Rows claimed by a previous incarnation (dead mid-send) are taken over at
 * once instead of after the 5-minute lease.
 */
export class Dispatcher {
  readonly stats: DispatchStats = { sent: 0, failed: 0, dead: 0, deferred: 0, deduplicated: 0, routed: 0 };
  private readonly lanes = new Map<string, Lane>();
  private readonly limiters = new Map<string, RateLimiter>();
  private readonly deduper: Deduper;
  private readonly random: () => number;
  private readonly offsetMin: OffsetFn;
  private readonly maxInFlight: number;
  private inFlight = 0;
  private readonly held = new Set<number>();
  private stopping = false;

  constructor(private readonly d: DispatcherDeps) {
    this.deduper = new Deduper(d.config.dedupe_window_s * 1000);
    this.random = d.random ?? Math.random;
    this.offsetMin = d.offsetMin ?? localOffset;
    this.maxInFlight = d.maxInFlight ?? 64;
    for (const t of d.transports.values()) this.limiters.set(t.name, new RateLimiter(t.config.max_per_minute));
  }

  /** Rows claimed and not yet closed. */
  get pending(): number {
    return this.inFlight;
  }

  /**
   * Claims what is due and hands it to the lanes (producer rows are routed synchronously).
   * @returns rows claimed; 0 when nothing was due or no capacity is free.
   */
  pump(): number {
    // Refill in batches (below half capacity): one claim and one routing commit per batch
    // instead of per row.
    if (this.stopping || this.inFlight > this.maxInFlight / 2) return 0;
    let total = 0;
    for (;;) {
      const room = this.maxInFlight - this.inFlight;
      if (room <= 0) return total;
      const now = this.d.now();
      const lease = Math.min(DEFAULT_OUTBOX_LEASE_MS, Math.max(1, now - this.d.startedAtMs + 1));
      const rows = this.d.ledger.bridge.claimDue(now, room, this.d.claimant, lease);
      if (rows.length === 0) return total;
      total += rows.length;
      const parents = rows.filter((r) => r.transport === null);
      if (parents.length > 0) this.route(parents);
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

  /** Fans producer rows out, all in one transaction (one commit per claimed batch). */
  private route(rows: readonly OutboxRecord[]): void {
    const { ledger } = this.d;
    const routed = ledger.atomically(() =>
      rows.map((row) => {
        const targets = routeTargets(row, this.d.transports.values());
        for (const name of targets) {
          ledger.outbox.enqueue({
            idempotencyKey: `${row.idempotencyKey}:${name}`,
            kind: row.kind,
            severity: row.severity,
            title: row.title,
            body: row.body,
            payload: row.payload,
            transport: name,
            createdAtMs: row.createdAtMs,
          });
        }
        ledger.bridge.markSent(row.id, this.d.now());
        return { row, targets };
      }),
    );
    this.stats.routed += rows.length;
    for (const { row, targets } of routed) {
      if (targets.length === 0) this.d.log('info', `notification ${row.idempotencyKey} (${row.kind}, ${row.severity}) matches no transport`);
    }
  }

  private lane(name: string): Lane {
    let l = this.lanes.get(name);
    if (!l) {
      l = new Lane((row) => this.deliver(row), (row) => this.release(row, 'bridge stopping', this.d.now()));
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

  private release(row: OutboxRecord, why: string, untilMs: number): void {
    this.d.ledger.bridge.markFailed(row.id, tagError(failuresBefore(row), row.attempts, `deferred: ${why}`), untilMs);
    this.stats.deferred += 1;
  }

  private dead(row: OutboxRecord, error: string): void {
    const text = redactText(error);
    this.d.ledger.bridge.markDead(row.id, tagError(failuresBefore(row) + 1, row.attempts, text));
    this.stats.dead += 1;
    this.d.log('err', `notification ${row.idempotencyKey} dead-lettered after ${row.attempts} attempt(s): ${text}`);
    this.d.onDeadLetter(row, text);
  }

  private async deliver(row: OutboxRecord): Promise<void> {
    try {
      await this.deliverRow(row);
    } catch (e) {
      // A ledger failure while closing the row: the lease will hand it out again.
      this.d.log('err', `notification ${row.idempotencyKey}: ${(e as Error).message}`);
    } finally {
      this.closed(row.id);
    }
  }

  private async deliverRow(row: OutboxRecord): Promise<void> {
    const { ledger } = this.d;
    const name = row.transport as string;
    const t = this.d.transports.get(name);
    if (!t) return this.dead(row, `no [notify.${name}] transport is configured`);
    const limiter = this.limiters.get(name) as RateLimiter;
    let now = this.d.now();
    if (row.severity !== 'critical' && !ALWAYS_NOW.has(row.kind)) {
      const until = quietUntil(this.d.config.quiet_hours, now, this.offsetMin);
      if (until !== undefined) return this.release(row, 'quiet hours', until);
    }
    if (!ALWAYS_NOW.has(row.kind)) {
      const dup = this.deduper.duplicateOf(row, now);
      if (dup !== undefined) {
        ledger.bridge.markSent(row.id, now);
        this.stats.deduplicated += 1;
        this.d.log('info', `notification ${row.idempotencyKey} not sent: same as ${dup} within ${this.d.config.dedupe_window_s} s`);
        return;
      }
    }
    const wait = limiter.delayMs(now);
    if (wait > (this.d.holdMs ?? 5000)) return this.release(row, `rate limit of ${name}`, now + wait);
    if (wait > 0) {
      await new Promise((r) => setTimeout(r, wait));
      now = this.d.now();
    }
    try {
      limiter.record(now);
      await t.send({ key: row.idempotencyKey, kind: row.kind, severity: row.severity, title: row.title, body: row.body, payload: row.payload });
    } catch (e) {
      const se = e instanceof SendError ? e : new SendError(`${name}: ${(e as Error).message}`, { retryable: true });
      now = this.d.now();
      if (se.status === 429 || se.retryAfterMs !== undefined) limiter.block(now + (se.retryAfterMs ?? 1000));
      const failures = failuresBefore(row) + 1;
      if (!se.retryable) return this.dead(row, `permanent: ${se.message}`);
      if (failures >= this.d.config.max_attempts) return this.dead(row, se.message);
      const delay = retryDelayMs(failures, se.retryAfterMs, this.random);
      ledger.bridge.markFailed(row.id, tagError(failures, row.attempts, redactText(se.message)), now + delay);
      this.stats.failed += 1;
      this.d.log('warning', `notification ${row.idempotencyKey} via ${name} failed (${failures}/${this.d.config.max_attempts}), retry in ${Math.round(delay / 1000)} s: ${redactText(se.message)}`);
      return;
    }
    now = this.d.now();
    ledger.bridge.markSent(row.id, now);
    this.deduper.record(row, now);
    this.stats.sent += 1;
  }
}

/** One transport's sequential delivery queue. */
class Lane {
  private readonly queue: OutboxRecord[] = [];
  private running: Promise<void> | undefined;
  private stopping = false;

  constructor(
    private readonly deliver: (row: OutboxRecord) => Promise<void>,
    private readonly release: (row: OutboxRecord) => void,
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
      await this.deliver(row);
    }
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await this.running;
    for (let row = this.queue.shift(); row !== undefined; row = this.queue.shift()) {
      try {
        this.release(row);
      } catch {
        // the lease hands it out again
      }
    }
  }
}
