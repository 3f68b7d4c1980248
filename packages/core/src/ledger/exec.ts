import type BetterSqlite3 from 'better-sqlite3';
import { AgentRunnerError } from '../errors.js';

/**
 * How many times a write or read is retried after SQLITE_BUSY escaped `busy_timeout`.
 * Only the rare cases get here (WAL recovery by another process, a lock held longer than
 * the timeout); normal contention is absorbed by `busy_timeout` at `BEGIN IMMEDIATE`.
 */
const BUSY_RETRIES = 4;
/** First back-off step in ms; doubled per retry with jitter, so at most ~1.5 s in total. */
const BUSY_BACKOFF_MS = 25;

const sleeper = new Int32Array(new SharedArrayBuffer(4));

/** Blocks the thread for `ms`; better-sqlite3 is synchronous, so a retry has to be too. */
function sleepSync(ms: number): void {
  Atomics.wait(sleeper, 0, 0, ms);
}

/** True for better-sqlite3's `SqliteError` (also across duplicate module copies). */
export function isSqliteError(e: unknown): e is Error & { code: string } {
  return e instanceof Error && e.name === 'SqliteError' && typeof (e as { code?: unknown }).code === 'string';
}

/** True for SQLITE_BUSY and its extended codes (SQLITE_BUSY_RECOVERY, _SNAPSHOT, _TIMEOUT). */
export function isBusy(e: unknown): boolean {
  return isSqliteError(e) && (e.code === 'SQLITE_BUSY' || e.code.startsWith('SQLITE_BUSY_'));
}

/** Wraps a SQLite failure as ERR_AR_LEDGER naming the file and the operation. */
export function ledgerError(path: string, op: string, cause: unknown): AgentRunnerError {
  const code = isSqliteError(cause) ? ` (${cause.code})` : '';
  const msg = cause instanceof Error ? cause.message : String(cause);
  return new AgentRunnerError('ERR_AR_LEDGER', `ledger ${path}: ${op} failed${code}: ${msg}`, {
    location: { file: path },
    cause,
  });
}

/** Runs reads and writes against one connection with the ledger's error and busy policy. */
export interface Exec {
  /**
   * Runs `fn` inside `BEGIN IMMEDIATE` (a savepoint when already inside a transaction).
   * Taking the write lock up front means SQLITE_BUSY can only arise at BEGIN, where
   * `busy_timeout` waits for it, never from a read-to-write upgrade (which SQLite cannot
   * wait out). If BUSY still escapes at BEGIN, it is retried a few times with back-off;
   * `fn` has not run at that point, so the retry is safe.
   * @throws AgentRunnerError ERR_AR_LEDGER on any SQLite failure; other errors thrown by
   *   `fn` pass through unchanged (and roll the transaction back).
   */
  write<T>(op: string, fn: () => T): T;
  /** Runs a read with the same busy retry and error wrapping as {@link Exec.write}. */
  read<T>(op: string, fn: () => T): T;
}

/** Builds the {@link Exec} of one connection; its transaction wrapper is created once. */
export function makeExec(db: BetterSqlite3.Database, path: string): Exec {
  const tx = db.transaction((fn: () => unknown) => fn());
  const immediate = tx.immediate;

  function retrying<T>(op: string, run: () => T, started: () => boolean): T {
    for (let attempt = 0; ; attempt++) {
      try {
        return run();
      } catch (e) {
        if (!isSqliteError(e)) throw e;
        if (isBusy(e) && !started() && attempt < BUSY_RETRIES) {
          sleepSync(BUSY_BACKOFF_MS * 2 ** attempt * (0.5 + Math.random()));
          continue;
        }
        throw ledgerError(path, op, e);
      }
    }
  }

  return {
    write<T>(op: string, fn: () => T): T {
      const nested = db.inTransaction;
      let started = false;
      return retrying(
        op,
        () =>
          immediate(() => {
            started = true;
            return fn();
          }) as T,
        // Inside an outer transaction the lock is already held; a BUSY there is not ours to retry.
        () => started || nested,
      );
    },
    read<T>(op: string, fn: () => T): T {
      return retrying(op, fn, () => db.inTransaction);
    },
  };
}
