// The page cache of every ledger connection is bounded (LEDGER_CACHE_KIB), not better-sqlite3's
// 16 MiB build default: a reader that scans a day of rounds every poll (the monitor) kept every
// page it read, so its RSS grew with the ledger.
import t from 'tap';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { LEDGER_CACHE_KIB, openLedger } from '../src/ledger/index.js';

/** Opens through `open` and returns the better-sqlite3 connection it prepared its statements on. */
function connectionOf(open: () => { close(): void }): { db: Database.Database; close(): void } {
  const proto = Database.prototype as unknown as { prepare: (...a: unknown[]) => unknown };
  const original = proto.prepare;
  let db: Database.Database | undefined;
  proto.prepare = function (this: Database.Database, ...a: unknown[]) {
    // The connection the ledger opened is the `this` of its first prepare: kept to read its pragmas.
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    db ??= this;
    return original.apply(this, a);
  };
  try {
    const ledger = open();
    if (!db) throw new Error('no statement was prepared');
    return { db, close: () => ledger.close() };
  } finally {
    proto.prepare = original;
  }
}

t.test('read-write and read-only connections use a bounded page cache', async (t) => {
  t.equal(LEDGER_CACHE_KIB, 2048, "SQLite's own default, 2 MiB");
  const path = join(t.testdir(), 'ledger.sqlite3');
  const rw = connectionOf(() => openLedger(path));
  t.equal(rw.db.pragma('cache_size', { simple: true }), -LEDGER_CACHE_KIB, 'read-write');
  const ro = connectionOf(() => openLedger(path, { readonly: true }));
  t.equal(ro.db.pragma('cache_size', { simple: true }), -LEDGER_CACHE_KIB, 'read-only');
  ro.close();
  rw.close();
});
