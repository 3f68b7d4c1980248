// SQLITE_BUSY handling against another process holding the write lock: busy_timeout waits,
// a short bounded retry absorbs what escapes it, and beyond that the caller gets
// ERR_AR_LEDGER (never a raw SqliteError, never an endless wait).
import t from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { openLedger } from '../src/ledger/index.js';

const HOLDER = fileURLToPath(new URL('./fixtures/ledger-lock-holder.mjs', import.meta.url));

/** Starts a process that holds the write lock for `holdMs`; resolves once it holds it. */
async function holdLock(path: string, holdMs: number): Promise<{ child: ChildProcess; done: Promise<number | null> }> {
  const child = spawn(process.execPath, [HOLDER, path, String(holdMs)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const done = new Promise<number | null>((r) => child.on('close', r));
  await new Promise<void>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (l) => l === 'locked' && resolve());
    void done.then(() => reject(new Error('lock holder exited before locking')));
  });
  return { child, done };
}

const enqueue = (ledger: ReturnType<typeof openLedger>, key: string): number =>
  ledger.outbox.enqueue({ idempotencyKey: key, kind: 'k', severity: 'info', title: key }).id;

t.test('busy_timeout waits out another writer (default 5 s)', async (t) => {
  const path = join(t.testdir(), 'ledger.sqlite3');
  const ledger = openLedger(path);
  const holder = await holdLock(path, 800);
  const t0 = Date.now();
  t.equal(enqueue(ledger, 'a'), 1);
  t.ok(Date.now() - t0 >= 500, `waited ${Date.now() - t0} ms for the lock`);
  t.equal(await holder.done, 0);
  ledger.close();
});

t.test('BUSY escaping a short busy_timeout is retried, invisible to the caller', async (t) => {
  const path = join(t.testdir(), 'ledger.sqlite3');
  const ledger = openLedger(path, { busyTimeoutMs: 50 });
  const holder = await holdLock(path, 200);
  const t0 = Date.now();
  t.equal(enqueue(ledger, 'a'), 1, 'the write went through after the holder let go');
  t.ok(Date.now() - t0 >= 100, `took ${Date.now() - t0} ms: more than one busy_timeout`);
  t.equal(await holder.done, 0);
  ledger.close();
});

t.test('a lock held far beyond timeout + retries fails with ERR_AR_LEDGER, bounded in time', async (t) => {
  const path = join(t.testdir(), 'ledger.sqlite3');
  const ledger = openLedger(path, { busyTimeoutMs: 20 });
  const holder = await holdLock(path, 5000);
  const t0 = Date.now();
  let err: unknown;
  try {
    enqueue(ledger, 'a');
  } catch (e) {
    err = e;
  }
  const waited = Date.now() - t0;
  t.match(err, { name: 'AgentRunnerError', code: 'ERR_AR_LEDGER', message: /SQLITE_BUSY/ });
  t.ok(waited < 3000, `gave up after ${waited} ms`);
  holder.child.kill('SIGKILL');
  await holder.done;
  t.equal(enqueue(ledger, 'b'), 1, 'works again once the holder is gone (its lock died with it)');
  t.same(ledger.integrityCheck(), ['ok']);
  ledger.close();
});
