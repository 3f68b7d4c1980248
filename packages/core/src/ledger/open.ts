import { chmodSync, closeSync, constants, fstatSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import type BetterSqlite3 from 'better-sqlite3';
import { Database } from './driver.js';
import { ensurePrivateDir, PRIVATE_FILE_MODE } from '../atomic.js';
import { AgentRunnerError, isAgentRunnerError } from '../errors.js';
import { alertsAccess, type AlertsAccess } from './alerts.js';
import { ledgerError, makeExec, type Exec } from './exec.js';
import { healAccess, type HealAccess } from './heal.js';
import { inboxAccess, type InboxConsumerAccess, type InboxIngestAccess } from './inbox.js';
import { kvAccess, type KvAccess } from './kv.js';
import { LEDGER_SCHEMA_VERSION, migrate, MIGRATIONS, type Migration } from './migrations.js';
import { outboxAccess, type OutboxDispatchAccess, type OutboxProducerAccess } from './outbox.js';
import { roundsAccess, type RoundsAccess } from './rounds.js';
import { throttlesAccess, type ThrottlesAccess } from './throttles.js';

/** Options of {@link openLedger}. */
export interface LedgerOptions {
  /** How long a writer waits for another process's write lock, ms (default 5000). */
  busyTimeoutMs?: number;
  /** Wall clock in ms since epoch for default timestamps (default `Date.now`). */
  now?: () => number;
  /** Schema to migrate to. Tests only; production code uses the built-in list. */
  migrations?: readonly Migration[];
  /**
   * Open an existing ledger for reading only (`peek`, `status`, the monitor): no directory or
   * file is created, nothing is migrated, and any write throws ERR_AR_LEDGER. A ledger whose
   * schema differs from this code's is refused (ERR_AR_LEDGER_SCHEMA): it is read correctly
   * only after the runner migrated it.
   */
  readonly?: boolean;
}

/**
 * Page cache of one ledger connection, KiB (`PRAGMA cache_size = -N`): SQLite's own default.
 * better-sqlite3 is built with 16 MiB, and a connection whose reads touch every row of a day
 * (the monitor's `totalsSince` and `classificationCounts`, every poll) keeps every page it
 * read: its RSS grew with the ledger (~0.2 MiB per 1,000 rounds) up to that 16 MiB. Pages
 * past this cap are read again from the kernel's page cache.
 */
export const LEDGER_CACHE_KIB = 2048;

/**
 * An open ledger: one better-sqlite3 connection with its statements prepared once.
 *
 * Accessors are grouped by the process that writes through them — each process writes only
 * its own tables, so a write reached through another process's group is a review red flag.
 * Every group's reads are open to anyone (`peek`, `doctor`, the monitor).
 *
 * All methods are synchronous. Writes run in `BEGIN IMMEDIATE` transactions; SQLITE_BUSY
 * is waited out by `busy_timeout` and a short bounded retry, so callers do not see it under
 * normal contention. SQLite failures surface as AgentRunnerError ERR_AR_LEDGER.
 */
export interface Ledger {
  /** The ledger file. */
  readonly path: string;
  /** `PRAGMA user_version` after migrating. */
  readonly schemaVersion: number;
  /**
   * The version this open found before migrating; less than `schemaVersion` only when this
   * process applied migrations (worth an event: `ledger migrated from N to M`).
   */
  readonly migratedFrom: number;
  /** Writer: the runner — `rounds`, `throttles`. */
  readonly runner: RoundsAccess & ThrottlesAccess;
  /** Writer: the watchdog — `heal_state`, `heal_actions`. */
  readonly watchdog: HealAccess;
  /** Writer: the bridge — outbox dispatch status, `inbox` (ingest and execution of commands), `cursors`. */
  readonly bridge: OutboxDispatchAccess & InboxIngestAccess & InboxConsumerAccess;
  /** Writer: the monitor — `alerts`. */
  readonly monitor: AlertsAccess;
  /** Writers: any process — queueing notifications (insert only). */
  readonly outbox: OutboxProducerAccess;
  /** Writers: any process — its own keys only. */
  readonly kv: KvAccess;
  /**
   * Runs `fn` in one `BEGIN IMMEDIATE` transaction, so several accessor calls commit
   * together or not at all (e.g. `finishRound` + `enqueue` of its notification). Nested
   * accessor writes become savepoints. `fn` must be synchronous and must not have effects
   * outside the ledger: if the lock cannot be taken at BEGIN, it is retried before `fn` runs.
   * @throws whatever `fn` throws (after rolling back); ERR_AR_LEDGER on SQLite failure.
   */
  atomically<T>(fn: () => T): T;
  /** `PRAGMA integrity_check` lines; `['ok']` when the file is sound. */
  integrityCheck(): string[];
  /** Closes the connection (idempotent). A clean close checkpoints and removes -wal/-shm. */
  close(): void;
}

/**
 * Creates the ledger file with mode 0600 before SQLite opens it, because SQLite would create
 * it with 0644 & ~umask; the -wal and -shm files inherit the main file's mode (SQLite's unix
 * VFS copies it). An existing file with group/other bits is tightened.
 */
function ensurePrivateFile(path: string): void {
  const fd = openSync(path, constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW, PRIVATE_FILE_MODE);
  try {
    if ((fstatSync(fd).mode & 0o077) !== 0) chmodSync(path, PRIVATE_FILE_MODE);
  } finally {
    closeSync(fd);
  }
}

/**
 * Opens (creating if needed) the SQLite ledger at `path` and migrates it to the current
 * schema. The parent directory is created 0700, the file 0600.
 *
 * Connection settings:
 * - `journal_mode=WAL`: readers never block the writer nor each other; one writer at a time.
 * - `synchronous=NORMAL`: in WAL mode a commit appends its frames to the -wal file with
 *   write(2) before returning, and only checkpoints fsync. A killed process (SIGKILL, OOM,
 *   crash) therefore loses no committed transaction — the frames are in the kernel's page
 *   cache and recovered from the WAL on the next open (tested: ledger-crash.test.ts). Power
 *   loss or a kernel panic may roll back the last transactions, never corrupt the file.
 *   FULL would fsync every commit (milliseconds on an SD card) for that last case only.
 * - `busy_timeout` (default 5000 ms): how long `BEGIN IMMEDIATE` waits for another writer.
 * - `foreign_keys=ON`, `journal_size_limit` 64 MiB (the -wal is truncated back after a
 *   checkpoint instead of staying at its high-water size).
 * - `cache_size` {@link LEDGER_CACHE_KIB} KiB (also read-only): the connection's page cache
 *   is bounded whatever the ledger's size.
 *
 * @throws AgentRunnerError ERR_AR_STATE_DIR when the directory cannot be created;
 *   ERR_AR_LEDGER (naming `path`) when SQLite cannot open or configure the file (corrupt,
 *   not a database, permissions, locked beyond the timeout); ERR_AR_LEDGER_SCHEMA when the
 *   file's schema is newer than this code.
 */
export function openLedger(path: string, opts: LedgerOptions = {}): Ledger {
  const now = opts.now ?? Date.now;
  const busyTimeoutMs = opts.busyTimeoutMs ?? 5000;
  if (opts.readonly) return openReadOnly(path, busyTimeoutMs, now);
  try {
    ensurePrivateDir(dirname(path));
  } catch (e) {
    throw new AgentRunnerError('ERR_AR_STATE_DIR', `cannot create the ledger directory ${dirname(path)}: ${(e as Error).message}`, {
      location: { file: dirname(path) },
      cause: e,
    });
  }
  let db: BetterSqlite3.Database | undefined;
  try {
    ensurePrivateFile(path);
    db = new Database(path, { timeout: busyTimeoutMs });
    const mode = db.pragma('journal_mode = WAL', { simple: true });
    if (mode !== 'wal') throw new Error(`journal_mode is ${String(mode)}, expected wal`);
    db.pragma('synchronous = NORMAL');
    db.pragma('foreign_keys = ON');
    db.pragma(`journal_size_limit = ${64 * 1024 * 1024}`);
    db.pragma(`cache_size = -${LEDGER_CACHE_KIB}`);
    const exec = makeExec(db, path);
    const versions = migrate(db, exec, path, now(), opts.migrations ?? MIGRATIONS);
    return buildLedger(db, exec, path, versions, now);
  } catch (e) {
    try {
      db?.close();
    } catch {
      // The open failure is what matters.
    }
    if (isAgentRunnerError(e)) throw e;
    throw ledgerError(path, 'open', e);
  }
}

function openReadOnly(path: string, busyTimeoutMs: number, now: () => number): Ledger {
  let db: BetterSqlite3.Database | undefined;
  try {
    db = new Database(path, { readonly: true, fileMustExist: true, timeout: busyTimeoutMs });
    db.pragma(`cache_size = -${LEDGER_CACHE_KIB}`);
    const version = Number(db.pragma('user_version', { simple: true }));
    if (version !== LEDGER_SCHEMA_VERSION) {
      throw new AgentRunnerError(
        'ERR_AR_LEDGER_SCHEMA',
        `ledger ${path} has schema v${version}; this agent-runner reads v${LEDGER_SCHEMA_VERSION}`,
        {
          location: { file: path },
          hint:
            version < LEDGER_SCHEMA_VERSION
              ? 'Start `agent-runner serve` once (it migrates the ledger), then retry.'
              : 'Upgrade agent-runner on this host (`agent-runner upgrade`).',
        },
      );
    }
    return buildLedger(db, makeExec(db, path), path, { from: version, to: version }, now);
  } catch (e) {
    try {
      db?.close();
    } catch {
      // The open failure is what matters.
    }
    if (isAgentRunnerError(e)) throw e;
    throw ledgerError(path, 'open', e);
  }
}

function buildLedger(
  db: BetterSqlite3.Database,
  exec: Exec,
  path: string,
  versions: { from: number; to: number },
  now: () => number,
): Ledger {
  const rounds = roundsAccess(db, exec, now);
  const throttles = throttlesAccess(db, exec, now);
  const inbox = inboxAccess(db, exec, now);
  const outbox = outboxAccess(db, exec, now);
  return {
    path,
    schemaVersion: versions.to,
    migratedFrom: versions.from,
    runner: {
      startRound: rounds.startRound,
      finishRound: rounds.finishRound,
      markInterrupted: rounds.markInterrupted,
      recordAgent: rounds.recordAgent,
      runningRounds: rounds.runningRounds,
      lastRounds: rounds.lastRounds,
      getRound: rounds.getRound,
      classificationCounts: rounds.classificationCounts,
      totalsSince: rounds.totalsSince,
      recordThrottle: throttles.recordThrottle,
      activeThrottle: throttles.activeThrottle,
      clearThrottle: throttles.clearThrottle,
    },
    watchdog: healAccess(db, exec, now),
    bridge: {
      claimDue: outbox.claimDue,
      markSent: outbox.markSent,
      markRepeat: outbox.markRepeat,
      sentWithFingerprint: outbox.sentWithFingerprint,
      markFailed: outbox.markFailed,
      markDead: outbox.markDead,
      insertCommand: inbox.insertCommand,
      insertCommands: inbox.insertCommands,
      getCursor: inbox.getCursor,
      setCursor: inbox.setCursor,
      pendingCommands: inbox.pendingCommands,
      getCommand: inbox.getCommand,
      markHandled: inbox.markHandled,
    },
    monitor: alertsAccess(db, exec, now),
    outbox: {
      enqueue: outbox.enqueue,
      getOutbox: outbox.getOutbox,
      findOutbox: outbox.findOutbox,
      countByStatus: outbox.countByStatus,
      producedBetween: outbox.producedBetween,
    },
    kv: kvAccess(db, exec, now),
    atomically: (fn) => exec.write('transaction', fn),
    integrityCheck() {
      const rows = exec.read('integrity check', () => db.pragma('integrity_check') as Array<Record<string, unknown>>);
      return rows.map((r) => String(r['integrity_check']));
    },
    close() {
      if (db.open) db.close();
    },
  };
}
