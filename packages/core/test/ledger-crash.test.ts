// Durability under SIGKILL: a writer process commits batches and reports each batch id on
// stdout right after its commit; the test kills it at a random moment, again and again.
// Every reported batch must survive complete, no batch may be torn, and the file must pass
// integrity_check. Children run dist/ (build first: npx tsc -b).
// LEDGER_CRASH_KILLS sets the number of kills (default 50); LEDGER_CRASH_LANES how many
// writers run (and get killed) at the same time (default 3: a writer is also killed while
// others wait for, or hold, the write lock).
import t from 'tap';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { openLedger } from '../src/ledger/index.js';

const WRITER = fileURLToPath(new URL('./fixtures/ledger-crash-writer.mjs', import.meta.url));
const DIST = fileURLToPath(new URL('../dist/ledger/index.js', import.meta.url));
const KILLS = Number(process.env['LEDGER_CRASH_KILLS'] ?? 50);
const LANES = Math.max(1, Number(process.env['LEDGER_CRASH_LANES'] ?? 3));
const ROWS_PER_BATCH = 10; // as in the writer

const sleepMs = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Runs one writer until it has committed at least once, kills it at a random moment, returns reported batches. */
async function killOnce(path: string, prefix: string): Promise<{ reported: string[]; signal: NodeJS.Signals | null }> {
  const child = spawn(process.execPath, [WRITER, path, prefix], { stdio: ['ignore', 'pipe', 'inherit'] });
  const reported: string[] = [];
  let firstCommit!: () => void;
  const committed = new Promise<void>((r) => (firstCommit = r));
  const closed = new Promise<NodeJS.Signals | null>((resolve) => child.on('close', (_code, signal) => resolve(signal)));
  createInterface({ input: child.stdout }).on('line', (line) => {
    if (line === 'ready') return;
    reported.push(line);
    firstCommit();
  });
  await Promise.race([committed, closed]);
  // 0-60 ms into the commit loop: lands inside a transaction, between statements, in a
  // commit or in an automatic checkpoint.
  await sleepMs(Math.random() * 60);
  child.kill('SIGKILL');
  const signal = await closed;
  return { reported, signal };
}

t.test(`SIGKILL at random moments (${KILLS}x) loses no reported commit and tears no batch`, async (t) => {
  if (!existsSync(DIST)) return t.fail(`missing ${DIST}: run npx tsc -b first`);
  const path = join(t.testdir(), 'state', 'ledger.sqlite3');
  openLedger(path).close(); // migrate up front so every kill lands in the write loop
  const reported: string[] = [];
  const noCommit: number[] = [];
  let killed = 0;
  const lane = async (first: number): Promise<void> => {
    for (let i = first; i < KILLS; i += LANES) {
      const r = await killOnce(path, `k${i}`);
      if (r.signal === 'SIGKILL') killed++;
      if (r.reported.length === 0) noCommit.push(i);
      reported.push(...r.reported);
    }
  };
  await Promise.all(Array.from({ length: LANES }, (_, j) => lane(j)));
  t.equal(killed, KILLS, 'every writer died by SIGKILL');
  t.same(noCommit, [], 'every writer committed before it was killed');

  // Raw SQLite first: what is on disk, before openLedger could migrate or tidy anything.
  const db = new Database(path, { readonly: true });
  const rows = db.prepare(`SELECT title AS batch, COUNT(*) AS n FROM outbox GROUP BY title`).all() as Array<{ batch: string; n: number }>;
  const rounds = db.prepare(`SELECT phase AS batch, COUNT(*) AS n FROM rounds GROUP BY phase`).all() as Array<{ batch: string; n: number }>;
  db.close();
  const present = new Map(rows.map((r) => [r.batch, r.n]));
  const roundsOf = new Map(rounds.map((r) => [r.batch, r.n]));

  const missing = reported.filter((b) => present.get(b) !== ROWS_PER_BATCH || roundsOf.get(b) !== 1);
  t.same(missing, [], `all ${reported.length} reported batches are present and complete`);
  const torn = rows.filter((r) => r.n !== ROWS_PER_BATCH).map((r) => `${r.batch}=${r.n}`);
  t.same(torn, [], 'no batch is partially present');
  const tornRounds = [...present.keys()].filter((b) => roundsOf.get(b) !== 1);
  t.same(tornRounds, [], 'every present batch has its round (outbox and rounds committed together)');
  t.ok(present.size >= reported.length, `${present.size - reported.length} batches committed but killed before reporting`);

  const ledger = openLedger(path);
  t.same(ledger.integrityCheck(), ['ok'], 'integrity_check is ok');
  const numbers = ledger.runner.lastRounds(1_000_000).map((r) => r.round);
  t.equal(new Set(numbers).size, numbers.length, 'round numbers are unique');
  ledger.close();
});
