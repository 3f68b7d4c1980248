import type BetterSqlite3 from 'better-sqlite3';
import { AgentRunnerError } from '../errors.js';
import type { Exec } from './exec.js';
import { int, type Row } from './json.js';

/** One row of `kv`. */
export interface KvEntry {
  key: string;
  /** The process that owns (and alone writes) the key: `runner`, `bridge`, `watchdog`, `monitor`, `cli`. */
  owner: string;
  value: string;
  updatedAtMs: number;
}

/**
 * The `kv` table: small values that fit no other table (e.g. the last digest sent). Every
 * process may write, but only keys it owns: the first writer of a key owns it, and a write
 * or delete by another owner is refused. Values are text; JSON-encode structured data.
 */
export interface KvAccess {
  get(key: string): string | undefined;
  getEntry(key: string): KvEntry | undefined;
  /**
   * Inserts or updates `key` for `owner`.
   * @throws AgentRunnerError ERR_AR_INTERNAL when `key` belongs to another owner (a bug).
   */
  set(owner: string, key: string, value: string): void;
  /**
   * Deletes `key`; true when it existed.
   * @throws AgentRunnerError ERR_AR_INTERNAL when `key` belongs to another owner.
   */
  delete(owner: string, key: string): boolean;
}

function foreignKey(key: string, owner: string, actual: string): AgentRunnerError {
  return new AgentRunnerError('ERR_AR_INTERNAL', `ledger kv key ${JSON.stringify(key)} belongs to ${actual}, not ${owner}`, {
    key,
    expected: `owner ${owner}`,
    found: `owner ${actual}`,
  });
}

/** Prepares the statements of {@link KvAccess} once for a connection. */
export function kvAccess(db: BetterSqlite3.Database, exec: Exec, now: () => number): KvAccess {
  const one = db.prepare(`SELECT * FROM kv WHERE key = ?`);
  const upsert = db.prepare(`INSERT INTO kv (key, owner, value, updated_at_ms) VALUES (@key, @owner, @value, @at)
    ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at_ms = excluded.updated_at_ms
    WHERE kv.owner = excluded.owner`);
  const del = db.prepare(`DELETE FROM kv WHERE key = ? AND owner = ?`);
  const read = (key: string): KvEntry | undefined => {
    const r = one.get(key) as Row | undefined;
    if (r === undefined) return undefined;
    return { key: String(r['key']), owner: String(r['owner']), value: String(r['value']), updatedAtMs: Number(r['updated_at_ms']) };
  };

  return {
    get(key) {
      return exec.read('read kv', () => read(key))?.value;
    },
    getEntry(key) {
      return exec.read('read kv', () => read(key));
    },
    set(owner, key, value) {
      const at = int(now());
      exec.write('write kv', () => {
        if (upsert.run({ key, owner, value, at }).changes === 0) {
          throw foreignKey(key, owner, read(key)?.owner ?? '?');
        }
      });
    },
    delete(owner, key) {
      return exec.write('delete kv', () => {
        if (del.run(key, owner).changes === 1) return true;
        const e = read(key);
        if (e !== undefined) throw foreignKey(key, owner, e.owner);
        return false;
      });
    },
  };
}
