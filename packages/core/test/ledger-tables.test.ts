// throttles, heal state/actions, alerts, kv, atomically() and inspectLedger on a real SQLite file.
import t from 'tap';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { inspectLedger, LEDGER_SCHEMA_VERSION, openLedger } from '../src/ledger/index.js';

const T0 = Date.parse('2025-03-01T12:00:00Z');

function caught(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  return undefined;
}

t.test('throttles: active until they expire, the longer wait wins, clear overrides', async (t) => {
  const ledger = openLedger(join(t.testdir(), 'ledger.sqlite3'), { now: () => T0 });
  const r = ledger.runner;
  t.equal(r.activeThrottle('claude:max', T0), undefined);
  r.recordThrottle({
    account: 'claude:max',
    class: 'rate_limit',
    untilMs: T0 + 60_000,
    resetAtMs: T0 + 60_000,
    detail: { resetsAt: 'x' },
    recordedBy: 'p1',
  });
  t.match(r.activeThrottle('claude:max', T0 + 59_999), {
    class: 'rate_limit',
    untilMs: T0 + 60_000,
    detail: { resetsAt: 'x' },
    recordedBy: 'p1',
  });
  t.equal(r.activeThrottle('claude:max', T0 + 60_000), undefined, 'expired at untilMs');
  t.equal(r.activeThrottle('other', T0), undefined, 'per account');

  // A second runner on the same account records a shorter back-off while the first is in force.
  const kept = r.recordThrottle({ account: 'claude:max', class: 'overloaded', untilMs: T0 + 10_000, recordedBy: 'p2' });
  t.match(kept, { class: 'rate_limit', untilMs: T0 + 60_000, recordedBy: 'p1' }, 'the longer wait is kept');
  t.match(
    r.recordThrottle({ account: 'claude:max', class: 'rate_limit', untilMs: T0 + 120_000, recordedBy: 'p2' }),
    { untilMs: T0 + 120_000, recordedBy: 'p2' },
    'a longer one replaces it',
  );
  // Once expired, any new throttle replaces it, even a shorter one.
  const later = T0 + 200_000;
  t.match(r.recordThrottle({ account: 'claude:max', class: 'overloaded', untilMs: later + 5_000, recordedAtMs: later }), {
    class: 'overloaded',
    untilMs: later + 5_000,
  });
  t.ok(r.clearThrottle('claude:max'));
  t.equal(r.activeThrottle('claude:max', later), undefined);
  t.notOk(r.clearThrottle('claude:max'));
  ledger.close();
});

t.test('heal state upserts and survives reopen; heal actions are append-only', async (t) => {
  const path = join(t.testdir(), 'ledger.sqlite3');
  let clock = T0;
  let ledger = openLedger(path, { now: () => clock });
  const w = ledger.watchdog;
  t.equal(w.getHealState('runner'), undefined);
  w.putHealState({
    target: 'runner',
    tier: 2,
    breaker: 'closed',
    consecutiveFailures: 1,
    bootId: 'boot-a',
    failureSignature: 'crash:exit=1',
    signatureRepeats: 1,
    lastActionAtMs: T0,
    lastActionMonoMs: 123_456.7,
    lastVerifiedIdentity: { pid: 10, starttime: 99 },
    pendingVerification: { deadlineMonoMs: 133_456, expect: 'identity-gone' },
    nonceInFlight: 'n-1',
  });
  clock = T0 + 1;
  w.putHealState({ target: 'bridge', tier: 0, breaker: 'closed', consecutiveFailures: 0, bootId: 'boot-a' });
  ledger.close();

  ledger = openLedger(path, { now: () => clock });
  t.match(ledger.watchdog.getHealState('runner'), {
    tier: 2,
    failureSignature: 'crash:exit=1',
    lastActionMonoMs: 123_457,
    lastVerifiedIdentity: { pid: 10, starttime: 99 },
    pendingVerification: { expect: 'identity-gone' },
    nonceInFlight: 'n-1',
    updatedAtMs: T0,
  });
  clock = T0 + 2;
  const opened = ledger.watchdog.putHealState({
    target: 'runner',
    tier: 4,
    breaker: 'open',
    consecutiveFailures: 3,
    bootId: 'boot-b',
    breakerOpenedAtMs: T0 + 2,
  });
  t.match(
    opened,
    { tier: 4, breaker: 'open', failureSignature: null, pendingVerification: null, updatedAtMs: T0 + 2 },
    'put replaces the whole state',
  );
  t.same(
    ledger.watchdog.listHealStates().map((s) => s.target),
    ['bridge', 'runner'],
  );

  const a1 = ledger.watchdog.recordHealAction({
    target: 'runner',
    tier: 3,
    action: 'sigkill',
    result: 'failed',
    reason: 'still unhealthy',
    actor: 'watchdog',
    nonce: 'n-1',
  });
  const a2 = ledger.watchdog.recordHealAction({
    target: 'runner',
    tier: 4,
    action: 'breaker-open',
    result: 'succeeded',
    actor: 'watchdog',
    detail: { failures: 3 },
  });
  ledger.watchdog.recordHealAction({ target: 'bridge', tier: 1, action: 'restart-marker', result: 'requested', actor: 'watchdog' });
  t.ok(a2 > a1);
  t.same(
    ledger.watchdog.recentHealActions(2).map((a) => a.target),
    ['bridge', 'runner'],
    'newest first',
  );
  t.match(ledger.watchdog.recentHealActions(10, 'runner'), [
    { action: 'breaker-open', detail: { failures: 3 }, atMs: T0 + 2 },
    { action: 'sigkill', reason: 'still unhealthy' },
  ]);
  ledger.close();

  const db = new Database(path);
  t.throws(() => db.prepare(`UPDATE heal_actions SET result = 'succeeded' WHERE id = ?`).run(a1), /append-only/);
  db.close();
});

t.test('alerts: one active alert per key, refreshed on re-raise, cleared by id or key', async (t) => {
  let clock = T0;
  const ledger = openLedger(join(t.testdir(), 'ledger.sqlite3'), { now: () => clock });
  const m = ledger.monitor;
  const first = m.raiseAlert({ detector: 'stalled', severity: 'warning', host: 'pi', project: 'p', message: 'no round for 2h' });
  clock = T0 + 60_000;
  const again = m.raiseAlert({
    detector: 'stalled',
    severity: 'critical',
    host: 'pi',
    project: 'p',
    message: 'no round for 3h',
    evidence: { lastRound: 7 },
  });
  t.same(first, { id: 1, raised: true });
  t.same(again, { id: 1, raised: false }, 'same condition, same alert');
  m.raiseAlert({ detector: 'stalled', severity: 'warning', host: 'pi2', project: 'p', message: 'other host' });
  const noHost = m.raiseAlert({ detector: 'cost-spike', severity: 'warning', message: 'no host' });
  t.match(m.activeAlerts({ host: 'pi' }), [
    { id: 1, severity: 'critical', message: 'no round for 3h', evidence: { lastRound: 7 }, raisedAtMs: T0, lastSeenAtMs: T0 + 60_000 },
  ]);
  t.equal(m.activeAlerts().length, 3);

  t.equal(m.clearAlert({ detector: 'stalled', host: 'pi', project: 'p' }, T0 + 120_000), 1);
  t.equal(m.clearAlert(1), 0, 'already cleared');
  t.equal(m.clearAlert(noHost.id), 1, 'by id');
  t.same(
    m.activeAlerts().map((a) => a.host),
    ['pi2'],
  );
  const reraised = m.raiseAlert({ detector: 'stalled', severity: 'warning', host: 'pi', project: 'p', message: 'stalled again' });
  t.match(reraised, { raised: true }, 'after clearing, the condition raises a new alert');
  t.not(reraised.id, 1);
  ledger.close();
});

t.test('kv: each owner writes only its own keys', async (t) => {
  const ledger = openLedger(join(t.testdir(), 'ledger.sqlite3'), { now: () => T0 });
  ledger.kv.set('bridge', 'bridge.digest.last', '2025-03-01');
  ledger.kv.set('bridge', 'bridge.digest.last', '2025-03-02');
  t.equal(ledger.kv.get('bridge.digest.last'), '2025-03-02');
  t.same(ledger.kv.getEntry('bridge.digest.last'), { key: 'bridge.digest.last', owner: 'bridge', value: '2025-03-02', updatedAtMs: T0 });
  t.match(
    caught(() => ledger.kv.set('runner', 'bridge.digest.last', 'x')),
    { code: 'ERR_AR_INTERNAL', message: 'belongs to bridge' },
  );
  t.match(
    caught(() => ledger.kv.delete('runner', 'bridge.digest.last')),
    { code: 'ERR_AR_INTERNAL' },
  );
  t.equal(ledger.kv.get('bridge.digest.last'), '2025-03-02', 'untouched by the foreign owner');
  t.ok(ledger.kv.delete('bridge', 'bridge.digest.last'));
  t.notOk(ledger.kv.delete('bridge', 'bridge.digest.last'));
  t.equal(ledger.kv.get('bridge.digest.last'), undefined);
  ledger.close();
});

t.test('atomically commits several writes together or rolls all back', async (t) => {
  const ledger = openLedger(join(t.testdir(), 'ledger.sqlite3'), { now: () => T0 });
  const runner = { pid: 1, bootId: 'b', starttimeTicks: 1, nonce: 'n' };
  const round = ledger.runner.startRound({ runner });
  t.throws(
    () =>
      ledger.atomically(() => {
        ledger.runner.finishRound(round, { classification: 'ok' });
        ledger.outbox.enqueue({ idempotencyKey: `round:${round}`, kind: 'round.finished', severity: 'info', title: 'done' });
        throw new Error('crash before commit');
      }),
    /crash before commit/,
  );
  t.match(ledger.runner.getRound(round), { status: 'running' }, 'finish rolled back');
  t.same(ledger.outbox.countByStatus().pending, 0, 'notification rolled back');
  const id = ledger.atomically(() => {
    ledger.runner.finishRound(round, { classification: 'ok' });
    return ledger.outbox.enqueue({ idempotencyKey: `round:${round}`, kind: 'round.finished', severity: 'info', title: 'done' }).id;
  });
  t.equal(id, 1);
  t.match(ledger.runner.getRound(round), { status: 'finished' });
  ledger.close();
});

t.test('inspectLedger reports without changing anything', async (t) => {
  const dir = t.testdir();
  const path = join(dir, 'ledger.sqlite3');
  openLedger(path).close();
  t.match(inspectLedger(path), { ok: true, schemaVersion: LEDGER_SCHEMA_VERSION, problems: [], warnings: [] });
  chmodSync(path, 0o644);
  t.match(inspectLedger(path), { ok: true, warnings: [/mode is 0644/] });

  const db = new Database(path);
  db.pragma(`user_version = ${LEDGER_SCHEMA_VERSION + 1}`);
  db.close();
  t.match(inspectLedger(path), { ok: false, schemaVersion: LEDGER_SCHEMA_VERSION + 1, problems: [/newer/] });

  const junk = join(dir, 'junk.sqlite3');
  writeFileSync(junk, 'not a database '.repeat(100));
  t.match(inspectLedger(junk), { ok: false, problems: [/cannot read/] });
  t.match(inspectLedger(join(dir, 'missing.sqlite3')), { ok: false });
});
