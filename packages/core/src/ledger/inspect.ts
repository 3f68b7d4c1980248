import { statSync } from 'node:fs';
import type BetterSqlite3 from 'better-sqlite3';
import { Database } from './driver.js';
import { LEDGER_SCHEMA_VERSION } from './migrations.js';

/** Result of {@link inspectLedger}. */
export interface LedgerInspection {
  /** True when the file opens, passes `integrity_check` and is not newer than this code. */
  ok: boolean;
  /** `PRAGMA user_version` (0 when unreadable). Older than the code = migrated at the next open. */
  schemaVersion: number;
  /** The schema version this code writes. */
  knownSchemaVersion: number;
  /** What makes `ok` false, in words (open failure, integrity lines, newer schema). */
  problems: string[];
  /** Worth fixing but harmless to the data: loose file mode, journal mode not WAL. */
  warnings: string[];
}

/**
 * Checks an existing ledger for `agent-runner doctor` without changing it: opens it
 * read-only (no migration, no file creation), runs `PRAGMA integrity_check`, compares the
 * schema version with this code's, and looks at the file mode and journal mode.
 * Never throws: every failure becomes a problem line.
 */
export function inspectLedger(path: string): LedgerInspection {
  const problems: string[] = [];
  const warnings: string[] = [];
  let schemaVersion = 0;
  try {
    const mode = statSync(path).mode & 0o777;
    if ((mode & 0o077) !== 0) warnings.push(`file mode is 0${mode.toString(8)}, expected 0600 (fixed at the next open)`);
  } catch (e) {
    problems.push(`cannot stat: ${(e as Error).message}`);
  }
  let db: BetterSqlite3.Database | undefined;
  try {
    db = new Database(path, { readonly: true, fileMustExist: true, timeout: 5000 });
    schemaVersion = Number(db.pragma('user_version', { simple: true }));
    if (schemaVersion > LEDGER_SCHEMA_VERSION) {
      problems.push(`schema v${schemaVersion} is newer than this agent-runner's v${LEDGER_SCHEMA_VERSION}`);
    }
    const journal = String(db.pragma('journal_mode', { simple: true }));
    if (journal !== 'wal') warnings.push(`journal_mode is ${journal}, expected wal (set at the next open)`);
    const lines = (db.pragma('integrity_check') as Array<Record<string, unknown>>).map((r) => String(r['integrity_check']));
    if (lines.length !== 1 || lines[0] !== 'ok') problems.push(...lines.map((l) => `integrity: ${l}`));
  } catch (e) {
    problems.push(`cannot read: ${(e as Error).message}`);
  } finally {
    try {
      db?.close();
    } catch {
      // Closing a read-only handle cannot lose data.
    }
  }
  return { ok: problems.length === 0, schemaVersion, knownSchemaVersion: LEDGER_SCHEMA_VERSION, problems, warnings };
}
