import type BetterSqlite3 from 'better-sqlite3';
import { AgentRunnerError } from '../errors.js';
import type { Exec } from './exec.js';
import { SCHEMA_V1, SCHEMA_V2 } from './schema.js';

/** One schema step. Ids are 1, 2, 3, ... in order; the ledger's `user_version` is the last applied id. */
export interface Migration {
  readonly id: number;
  readonly description: string;
  /** One or more SQL statements, run with `exec` inside the migration transaction. */
  readonly sql: string;
}

/**
 * The ledger's migrations, oldest first. Append only: an applied migration is never edited,
 * a change ships as a new entry (SQLite `ALTER TABLE ... ADD COLUMN`, or the 12-step table
 * rebuild from https://sqlite.org/lang_altertable.html for anything else).
 */
export const MIGRATIONS: readonly Migration[] = [
  { id: 1, description: 'initial schema', sql: SCHEMA_V1 },
  {
    id: 2,
    description: 'alerts raised by any unit; agent process group of a round; outbox fingerprint and platform message id',
    sql: SCHEMA_V2,
  },
];

/** The schema version this code writes (`PRAGMA user_version` after migrating). */
export const LEDGER_SCHEMA_VERSION: number = MIGRATIONS.length;

function assertOrdered(migrations: readonly Migration[]): void {
  migrations.forEach((m, i) => {
    if (m.id !== i + 1) {
      throw new AgentRunnerError('ERR_AR_INTERNAL', `ledger migration #${i} has id ${m.id}, expected ${i + 1}`);
    }
  });
}

function readVersion(db: BetterSqlite3.Database): number {
  return Number(db.pragma('user_version', { simple: true }));
}

function tooNew(path: string, found: number, known: number): AgentRunnerError {
  return new AgentRunnerError(
    'ERR_AR_LEDGER_SCHEMA',
    `ledger ${path} has schema version ${found}; this agent-runner knows versions up to ${known}`,
    { location: { file: path }, expected: `user_version <= ${known}`, found: String(found) },
  );
}

/**
 * Brings the ledger to the newest schema. All pending migrations run in ONE `BEGIN IMMEDIATE`
 * transaction together with the `user_version` bump, so a crash leaves the old version or
 * the new, never half. The version is read again after the write lock is held: a process
 * that lost the race sees the winner's bump and applies nothing.
 *
 * Each applied migration is also recorded in `schema_migrations` (id, description,
 * applied_at_ms) for `doctor` and for tests that prove a migration ran once.
 *
 * @returns the version found (`from`, read under the write lock when migrating) and the
 *   version after migrating (`to`); equal when nothing was applied.
 * @throws AgentRunnerError ERR_AR_LEDGER_SCHEMA when the file is newer than `migrations`;
 *   ERR_AR_LEDGER when SQLite fails.
 */
export function migrate(
  db: BetterSqlite3.Database,
  exec: Exec,
  path: string,
  nowMs: number,
  migrations: readonly Migration[] = MIGRATIONS,
): { from: number; to: number } {
  assertOrdered(migrations);
  const latest = migrations.length;
  const seen = exec.read('read schema version', () => readVersion(db));
  if (seen > latest) throw tooNew(path, seen, latest);
  if (seen === latest) return { from: seen, to: seen };
  return exec.write('migrate schema', () => {
    const current = readVersion(db);
    if (current > latest) throw tooNew(path, current, latest);
    if (current === latest) return { from: current, to: current };
    db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
      id            INTEGER PRIMARY KEY,
      description   TEXT NOT NULL,
      applied_at_ms INTEGER NOT NULL
    ) STRICT`);
    const record = db.prepare('INSERT INTO schema_migrations (id, description, applied_at_ms) VALUES (?, ?, ?)');
    for (const m of migrations.slice(current)) {
      db.exec(m.sql);
      record.run(m.id, m.description, nowMs);
      // user_version lives in the database header, so it commits or rolls back with the rest.
      db.pragma(`user_version = ${m.id}`);
    }
    return { from: current, to: latest };
  });
}
