import { isNoSpace } from '@agent-runner/core/disk';
import type { EventWriter } from '@agent-runner/core/events';
import type { LogPriority } from '@agent-runner/core/unit';

/** SQLite codes of a ledger that may take writes again by itself (lock, I/O, read-only remount). */
const TRANSIENT_SQLITE = /^SQLITE_(BUSY|LOCKED|IOERR|READONLY|CANTOPEN|PROTOCOL)/;

function sqliteCode(e: unknown): string | undefined {
  for (let cur = e, i = 0; cur && i < 4; cur = (cur as { cause?: unknown }).cause, i++) {
    const code = (cur as { code?: unknown }).code;
    if (typeof code === 'string' && code.startsWith('SQLITE_')) return code;
  }
  return undefined;
}

/** True when a failed ledger write is worth retrying later (a full disk, a lock, an I/O error). */
export function retryable(e: unknown): boolean {
  return isNoSpace(e) || TRANSIENT_SQLITE.test(sqliteCode(e) ?? '');
}

/**
 * The monitor's ledger writes, kept in order through a full disk (SQLITE_FULL, ENOSPC) or a
 * ledger that is briefly unwritable: a write that fails is kept, with every write queued after
 * it, and retried at the next {@link flush} (every poll), so an alert raised while the disk
 * is full is recorded and notified once space is free — never lost, never reordered. The
 * failure is logged once per episode, and once more when writes go through again. A write
 * that fails for any other reason (a bug: a constraint violation) is logged and dropped, so it
 * cannot block the ones behind it.
 */
export class LedgerWrites {
  private readonly queue: Array<{ what: string; run: () => void }> = [];
  private failing = false;

  constructor(private readonly log: (priority: LogPriority, line: string) => void) {}

  /** Runs `run` now when nothing is waiting, else after the writes before it. */
  write(what: string, run: () => void): void {
    this.queue.push({ what, run });
    this.flush();
  }

  /**
   * Runs `run` now unless writes are waiting; a failure is only logged. For writes the next
   * poll redoes anyway (refreshing an alert that still holds).
   */
  refresh(what: string, run: () => void): void {
    if (this.queue.length) return;
    try {
      run();
    } catch (e) {
      this.failed(what, e);
    }
  }

  /** Retries the waiting writes in order; stops at the first that fails again. */
  flush(): void {
    while (this.queue.length) {
      const w = this.queue[0] as { what: string; run: () => void };
      try {
        w.run();
      } catch (e) {
        if (retryable(e)) {
          this.failed(w.what, e);
          return;
        }
        this.log('err', `monitor: ${w.what} failed and is dropped: ${(e as Error).message}`);
      }
      this.queue.shift();
    }
    if (this.failing) this.log('notice', 'monitor: the ledger takes writes again; the alerts and notifications that waited are recorded');
    this.failing = false;
  }

  private failed(what: string, e: unknown): void {
    if (this.failing) return;
    this.failing = true;
    const why = isNoSpace(e) ? 'the file system is full' : (e as Error).message;
    this.log('warning', `monitor: ${what} not written (${why}); polling on, retrying every poll`);
  }
}

/**
 * The monitor's event writes: the events are the narrative (the ledger row and the outbox are
 * the record), so a failed append (a full disk) is logged once per episode and dropped.
 */
export class MonitorEvents {
  private failing = false;

  constructor(
    private readonly events: EventWriter | undefined,
    private readonly log: (priority: LogPriority, line: string) => void,
  ) {}

  /** Appends one event of the catalogue (its shape is checked by the writer at run time). */
  emit(
    kind:
      | 'monitor_alert_raised'
      | 'monitor_alert_cleared'
      | 'monitor_auto_stop'
      | 'monitor_remote_blip'
      | 'monitor_remote_giveup'
      | 'restart_marker_consumed',
    payload: Record<string, unknown>,
  ): void {
    if (!this.events) return;
    try {
      (this.events.emit as (k: string, p: Record<string, unknown>) => void).call(this.events, kind, payload);
      if (this.failing) this.log('notice', 'monitor: events are written again');
      this.failing = false;
    } catch (e) {
      if (!this.failing)
        this.log(
          'warning',
          `monitor: event ${kind} not written (${isNoSpace(e) ? 'the file system is full' : (e as Error).message}); later events are tried again`,
        );
      this.failing = true;
    }
  }
}
