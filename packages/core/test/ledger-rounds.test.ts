// rounds accessors on a real SQLite file: numbering, closing rules, aggregates.
import t from 'tap';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { openLedger, type RunnerIdentity } from '../src/ledger/index.js';

const RUNNER: RunnerIdentity = { pid: 4242, bootId: 'boot-a', starttimeTicks: 123456, nonce: 'nonce-1' };
const T0 = Date.parse('2025-03-01T00:00:00Z');

t.test('round numbers never repeat: not after interrupt, reopen, or deleting the newest rows', async (t) => {
  const path = join(t.testdir(), 'ledger.sqlite3');
  let clock = T0;
  let ledger = openLedger(path, { now: () => clock });
  const seen: number[] = [];
  seen.push(ledger.runner.startRound({ runner: RUNNER }));
  seen.push(ledger.runner.startRound({ runner: RUNNER }));
  t.ok(ledger.runner.markInterrupted(seen[1]!, 'runner restarted'));
  seen.push(ledger.runner.startRound({ runner: RUNNER }));
  ledger.close();

  ledger = openLedger(path, { now: () => clock });
  seen.push(ledger.runner.startRound({ runner: RUNNER }));
  ledger.close();

  // Retention pruning (or an operator) deleting the newest rows must not free their numbers.
  const db = new Database(path);
  db.prepare('DELETE FROM rounds WHERE round >= 3').run();
  db.close();
  ledger = openLedger(path, { now: () => clock++ });
  seen.push(ledger.runner.startRound({ runner: RUNNER }));
  t.same(seen, [1, 2, 3, 4, 5], 'strictly increasing, never reused');
  ledger.close();
});

t.test('a round is closed once: finish after interrupt and interrupt after finish are refused', async (t) => {
  const clock = T0;
  const ledger = openLedger(join(t.testdir(), 'ledger.sqlite3'), { now: () => clock });
  const a = ledger.runner.startRound({ runner: RUNNER, phase: 'build', agent: 'claude', startedAtMs: T0 });
  const b = ledger.runner.startRound({ runner: RUNNER, phase: 'build', startedAtMs: T0 + 10 });
  t.same(
    ledger.runner.runningRounds().map((r) => r.round),
    [a, b],
    'both running, oldest first',
  );

  t.ok(ledger.runner.markInterrupted(a, 'runner crashed (pid 4242 gone)', T0 + 5_000));
  t.notOk(ledger.runner.finishRound(a, { classification: 'ok', exitCode: 0 }), 'late finish of an interrupted round refused');
  const ra = ledger.runner.getRound(a)!;
  t.match(ra, {
    status: 'interrupted',
    endedAtMs: T0 + 5_000,
    durationMs: 5_000,
    interruptReason: 'runner crashed (pid 4242 gone)',
    classification: null,
  });

  t.ok(
    ledger.runner.finishRound(b, {
      classification: 'rate_limit',
      exitCode: 1,
      endedAtMs: T0 + 70_000,
      durationMs: 69_990.4, // monotonic, fractional: rounded into the INTEGER column
      outputBytes: 2048,
      logFile: '/logs/R2.log',
      inputTokens: 100,
      outputTokens: 50,
      cacheReadTokens: 1000,
      cacheCreationTokens: 10,
      costUsd: 0.25,
      rateLimit: { resetsAt: T0 + 3_600_000 },
      evidence: { event: 'rate_limit_event' },
    }),
  );
  t.notOk(ledger.runner.markInterrupted(b, 'late'), 'interrupt of a finished round refused');
  t.notOk(ledger.runner.finishRound(b, { classification: 'ok' }), 'second finish refused');
  t.match(ledger.runner.getRound(b), {
    status: 'finished',
    classification: 'rate_limit',
    exitCode: 1,
    durationMs: 69_990,
    pid: 4242,
    runnerBootId: 'boot-a',
    runnerStarttimeTicks: 123456,
    runnerNonce: 'nonce-1',
    rateLimit: { resetsAt: T0 + 3_600_000 },
    evidence: { event: 'rate_limit_event' },
    logFile: '/logs/R2.log',
  });
  t.same(ledger.runner.runningRounds(), []);
  t.equal(ledger.runner.getRound(999), undefined);
  ledger.close();
});

t.test('lastRounds, classificationCounts and totalsSince', async (t) => {
  const ledger = openLedger(join(t.testdir(), 'ledger.sqlite3'), { now: () => T0 });
  const day = 86_400_000;
  const mk = (startedAtMs: number, classification: string | null, costUsd?: number, inputTokens?: number): number => {
    const n = ledger.runner.startRound({ runner: RUNNER, startedAtMs });
    if (classification === null) ledger.runner.markInterrupted(n, 'stop', startedAtMs + 1);
    else ledger.runner.finishRound(n, { classification, costUsd, inputTokens, outputTokens: 1, endedAtMs: startedAtMs + 1 });
    return n;
  };
  mk(T0 - 2 * day, 'ok', 5, 1000); // before the window
  mk(T0, 'ok', 0.5, 10);
  mk(T0 + 1, 'ok', 0.25);
  mk(T0 + 2, 'rate_limit');
  mk(T0 + 3, null);
  ledger.runner.startRound({ runner: RUNNER, startedAtMs: T0 + 4 }); // running: not counted by class

  t.same(ledger.runner.classificationCounts(T0), { ok: 2, rate_limit: 1, interrupted: 1 });
  t.same(ledger.runner.classificationCounts(T0 - 3 * day), { ok: 3, rate_limit: 1, interrupted: 1 });
  t.same(ledger.runner.totalsSince(T0), {
    rounds: 5,
    inputTokens: 10,
    outputTokens: 3,
    cacheReadTokens: 0,
    cacheCreationTokens: 0,
    costUsd: 0.75,
  });
  t.same(ledger.runner.totalsSince(T0 + day), {
    rounds: 0,
    inputTokens: 0,
    outputTokens: 0,
    cacheReadTokens: 0,
    cacheCreationTokens: 0,
    costUsd: 0,
  });
  t.same(
    ledger.runner.lastRounds(3).map((r) => r.round),
    [6, 5, 4],
    'newest first',
  );
  ledger.close();
});
