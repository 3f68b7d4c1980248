// Concurrency: four processes write the ledger at once for LEDGER_STRESS_S seconds (default
// 10) — each to its own tables and all to the shared outbox, two of them racing to claim
// the same outbox rows. No error (SQLITE_BUSY included) may reach a caller, every write
// must be accounted for, and no outbox row may be claimed twice.
// Children run dist/ (build first: npx tsc -b).
import t from 'tap';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { openLedger } from '../src/ledger/index.js';

const WORKER = fileURLToPath(new URL('./fixtures/ledger-stress-worker.mjs', import.meta.url));
const DIST = fileURLToPath(new URL('../dist/ledger/index.js', import.meta.url));
const SECONDS = Number(process.env['LEDGER_STRESS_S'] ?? 10);
const ROLES = ['runner', 'watchdog', 'bridge-a', 'bridge-b'] as const;

interface Stats {
  role: string;
  ops: number;
  enqueued: number;
  rounds: number;
  healActions: number;
  inbox: number;
  claimed: number[];
  maxCallMs: number;
  error?: string;
}

function runWorker(path: string, role: string, startAt: number): Promise<{ status: number | null; stats: Stats }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [WORKER, path, role, String(startAt), String(SECONDS * 1000)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('close', (status) => {
      try {
        resolve({ status, stats: JSON.parse(out.trim()) as Stats });
      } catch (e) {
        reject(new Error(`worker ${role} printed ${JSON.stringify(out)}: ${String(e)}`));
      }
    });
  });
}

t.test(`4 processes writing for ${SECONDS}s: no error surfaces, counts add up`, async (t) => {
  if (!existsSync(DIST)) return t.fail(`missing ${DIST}: run npx tsc -b first`);
  const path = join(t.testdir(), 'state', 'ledger.sqlite3');
  openLedger(path).close();
  // Workers start together once all have loaded, so the whole window is contended.
  const startAt = Date.now() + 1500;
  const results = await Promise.all(ROLES.map((role) => runWorker(path, role, startAt)));
  for (const { status, stats } of results) {
    t.equal(status, 0, `${stats.role} exited 0`);
    t.notOk(stats.error, `${stats.role}: no error reached the caller ${stats.error ?? ''}`);
    t.ok(stats.ops > 0, `${stats.role}: ${stats.ops} ledger calls, slowest ${Number(stats.maxCallMs).toFixed(1)} ms`);
  }
  const all = results.map((r) => r.stats);
  const sum = (f: (s: Stats) => number): number => all.reduce((a, s) => a + f(s), 0);

  const db = new Database(path, { readonly: true });
  const count = (sql: string): number => (db.prepare(sql).get() as { n: number }).n;
  t.equal(
    count(`SELECT COUNT(*) AS n FROM outbox`),
    sum((s) => s.enqueued),
    'outbox rows = enqueues of all four',
  );
  t.equal(
    count(`SELECT COUNT(*) AS n FROM rounds WHERE status = 'finished'`),
    sum((s) => s.rounds),
    'rounds',
  );
  t.equal(
    count(`SELECT COUNT(*) AS n FROM rounds`),
    sum((s) => s.rounds),
    'no stray running round',
  );
  t.equal(
    count(`SELECT COUNT(*) AS n FROM heal_actions`),
    sum((s) => s.healActions),
    'heal actions',
  );
  t.equal(
    count(`SELECT consecutive_failures AS n FROM heal_state WHERE target = 'runner'`),
    sum((s) => s.healActions),
    'read-modify-write of heal_state lost no update',
  );
  t.equal(
    count(`SELECT COUNT(*) AS n FROM inbox`),
    sum((s) => s.inbox),
    'inbox rows',
  );
  t.equal(count(`SELECT COUNT(*) AS n FROM kv`), ROLES.length, 'one kv key per role');

  const claimed = all.flatMap((s) => s.claimed);
  t.equal(new Set(claimed).size, claimed.length, `no outbox row claimed twice (${claimed.length} claims)`);
  t.ok(
    all.every((s) => !s.role.startsWith('bridge') || s.claimed.length > 0),
    'both bridges claimed rows',
  );
  t.equal(count(`SELECT COUNT(*) AS n FROM outbox WHERE status = 'sent'`), claimed.length, 'every claim ended sent');
  const wrongClaimant = all.flatMap((s) =>
    s.claimed.filter((id) => (db.prepare(`SELECT claimed_by AS c FROM outbox WHERE id = ?`).get(id) as { c: string }).c !== s.role),
  );
  t.same(wrongClaimant, [], 'each sent row records the bridge that claimed it');
  db.close();

  const ledger = openLedger(path);
  t.same(ledger.integrityCheck(), ['ok']);
  ledger.close();
});
