// Ledger opening and schema migrations, on real SQLite files and real concurrent processes.
// Children run dist/ (build first: npx tsc -b).
import t from 'tap';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { LEDGER_SCHEMA_VERSION, MIGRATIONS, openLedger } from '../src/ledger/index.js';

const OPENER = fileURLToPath(new URL('./fixtures/ledger-opener.mjs', import.meta.url));
const DIST = fileURLToPath(new URL('../dist/ledger/index.js', import.meta.url));
const RACES = Number(process.env['LEDGER_RACES'] ?? 4);

const mode = (p: string): number => statSync(p).mode & 0o777;

/** The error `fn` throws (undefined when it returns). */
function caught(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  return undefined;
}

function rawVersion(path: string): number {
  const db = new Database(path, { readonly: true });
  try {
    return Number(db.pragma('user_version', { simple: true }));
  } finally {
    db.close();
  }
}

function appliedMigrations(path: string): Array<{ id: number; description: string }> {
  const db = new Database(path, { readonly: true });
  try {
    return db.prepare('SELECT id, description FROM schema_migrations ORDER BY id').all() as Array<{ id: number; description: string }>;
  } finally {
    db.close();
  }
}

interface OpenerResult {
  ok: boolean;
  from?: number;
  to?: number;
  round?: number;
  code?: string;
  error?: string;
}

function runOpener(path: string, startAt: number, slow: boolean): Promise<{ status: number | null; result: OpenerResult }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [OPENER, path, String(startAt), slow ? '1' : '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('close', (status) => {
      try {
        resolve({ status, result: JSON.parse(out.trim() || '{"ok":false,"error":"no output"}') as OpenerResult });
      } catch (e) {
        reject(new Error(`bad opener output ${JSON.stringify(out)}: ${String(e)}`));
      }
    });
  });
}

t.test('a fresh file gets the current schema, mode 0600 in a 0700 directory', async (t) => {
  const dir = join(t.testdir(), 'state', 'nested');
  const path = join(dir, 'ledger.sqlite3');
  const ledger = openLedger(path);
  t.equal(ledger.schemaVersion, LEDGER_SCHEMA_VERSION);
  t.equal(ledger.migratedFrom, 0, 'this open applied the migrations');
  t.equal(mode(dir), 0o700, 'parent directory 0700');
  t.equal(mode(path), 0o600, 'ledger file 0600');
  ledger.runner.startRound({ runner: { pid: 1, bootId: 'b', starttimeTicks: 1, nonce: 'n' } });
  for (const suffix of ['-wal', '-shm']) {
    t.ok(existsSync(path + suffix), `${suffix} exists while open (WAL mode)`);
    t.equal(mode(path + suffix), 0o600, `${suffix} inherits 0600`);
  }
  t.same(ledger.integrityCheck(), ['ok']);
  ledger.close();
  ledger.close(); // idempotent
  t.equal(rawVersion(path), LEDGER_SCHEMA_VERSION, 'PRAGMA user_version holds the schema version');
  t.same(
    appliedMigrations(path).map((m) => m.id),
    MIGRATIONS.map((m) => m.id),
    'every migration recorded once',
  );

  const again = openLedger(path);
  t.equal(again.migratedFrom, LEDGER_SCHEMA_VERSION, 'a reopen applies nothing');
  again.close();
  t.equal(appliedMigrations(path).length, MIGRATIONS.length);
});

t.test('an existing ledger with loose permissions is tightened to 0600', async (t) => {
  const dir = t.testdir();
  const path = join(dir, 'ledger.sqlite3');
  writeFileSync(path, '', { mode: 0o644 });
  const ledger = openLedger(path);
  t.equal(mode(path), 0o600);
  ledger.close();
});

t.test('a ledger from a newer agent-runner is refused with ERR_AR_LEDGER_SCHEMA and left untouched', async (t) => {
  const path = join(t.testdir(), 'ledger.sqlite3');
  openLedger(path).close();
  const db = new Database(path);
  db.pragma(`user_version = ${LEDGER_SCHEMA_VERSION + 1}`);
  db.close();
  t.match(
    caught(() => openLedger(path)),
    { name: 'AgentRunnerError', code: 'ERR_AR_LEDGER_SCHEMA', exitCode: 70, message: path },
  );
  t.equal(rawVersion(path), LEDGER_SCHEMA_VERSION + 1);
});

t.test('a file that is not a database fails with ERR_AR_LEDGER naming the path', async (t) => {
  const path = join(t.testdir(), 'ledger.sqlite3');
  writeFileSync(path, 'this is not a sqlite database, just some text that is long enough '.repeat(20));
  t.match(
    caught(() => openLedger(path)),
    { name: 'AgentRunnerError', code: 'ERR_AR_LEDGER', exitCode: 75, message: path },
  );
});

t.test('an unwritable location fails with an AgentRunnerError, not a raw exception', async (t) => {
  const root = t.testdir();
  writeFileSync(join(root, 'file'), 'x');
  t.match(
    caught(() => openLedger(join(root, 'file', 'ledger.sqlite3'))),
    { name: 'AgentRunnerError', code: 'ERR_AR_STATE_DIR' },
  );
  mkdirSync(join(root, 'dir.sqlite3'));
  t.match(
    caught(() => openLedger(join(root, 'dir.sqlite3'))),
    { name: 'AgentRunnerError', code: 'ERR_AR_LEDGER', message: 'dir.sqlite3' },
  );
});

t.test('two processes opening a fresh file at once: migrated once, both work', async (t) => {
  if (!existsSync(DIST)) return t.fail(`missing ${DIST}: run npx tsc -b first`);
  const root = t.testdir();
  for (let i = 0; i < RACES; i++) {
    // Odd races use a slowed-down migration, so the loser has certainly read user_version 0
    // before the winner commits and must rely on the re-check under the write lock.
    const slow = i % 2 === 1;
    const path = join(root, `race-${i}`, 'ledger.sqlite3');
    const startAt = Date.now() + 500;
    const [a, b] = await Promise.all([runOpener(path, startAt, slow), runOpener(path, startAt, slow)]);
    t.equal(a.status, 0, `race ${i}: opener A ok ${a.result.error ?? ''}`);
    t.equal(b.status, 0, `race ${i}: opener B ok ${b.result.error ?? ''}`);
    const froms = [a.result.from, b.result.from].sort();
    t.same(froms, [0, LEDGER_SCHEMA_VERSION], `race ${i} (slow=${slow}): exactly one opener migrated`);
    t.same([a.result.round, b.result.round].sort(), [1, 2], `race ${i}: both wrote a round`);
    t.equal(appliedMigrations(path).length, MIGRATIONS.length, `race ${i}: migrations recorded once`);
    t.equal(rawVersion(path), LEDGER_SCHEMA_VERSION);
  }
});
