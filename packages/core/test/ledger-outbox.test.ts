// outbox accessors on a real SQLite file: idempotent enqueue, due-ness, claims and leases,
// retry and dead-letter transitions.
import t from 'tap';
import { join } from 'node:path';
import { DEFAULT_OUTBOX_LEASE_MS, openLedger, type EnqueueInput } from '../src/ledger/index.js';

const T0 = Date.parse('2025-03-01T12:00:00Z');
const note = (key: string, extra: Partial<EnqueueInput> = {}): EnqueueInput => ({
  idempotencyKey: key,
  kind: 'round.finished',
  severity: 'info',
  title: `title ${key}`,
  ...extra,
});

t.test('enqueue is idempotent on the key', async (t) => {
  const ledger = openLedger(join(t.testdir(), 'ledger.sqlite3'), { now: () => T0 });
  const first = ledger.outbox.enqueue(note('round:1', { body: 'first', payload: { round: 1 } }));
  const again = ledger.outbox.enqueue(note('round:1', { body: 'second attempt after a crash' }));
  t.same(first, { id: 1, inserted: true });
  t.same(again, { id: 1, inserted: false }, 'same id, not inserted');
  t.match(ledger.outbox.getOutbox(1), {
    body: 'first',
    payload: { round: 1 },
    status: 'pending',
    attempts: 0,
    nextAttemptAtMs: T0,
    createdAtMs: T0,
  });
  t.same(ledger.outbox.countByStatus(), { pending: 1, sending: 0, sent: 0, dead: 0 });
  t.match(
    (() => {
      try {
        ledger.outbox.enqueue(note('bad', { severity: 'loud' as 'info' }));
      } catch (e) {
        return e;
      }
      return undefined;
    })(),
    { code: 'ERR_AR_LEDGER', message: 'CHECK constraint failed' },
    'an invalid row raises instead of being silently ignored',
  );
  ledger.close();
});

t.test('claimDue: only due rows, oldest first, limit, one claimant per lease', async (t) => {
  const ledger = openLedger(join(t.testdir(), 'ledger.sqlite3'), { now: () => T0 });
  ledger.outbox.enqueue(note('a', { createdAtMs: T0 - 3 }));
  ledger.outbox.enqueue(note('b', { createdAtMs: T0 - 2 }));
  ledger.outbox.enqueue(note('c', { createdAtMs: T0 - 1 }));
  ledger.outbox.enqueue(note('later', { notBeforeMs: T0 + 60_000 }));

  const first = ledger.bridge.claimDue(T0, 2, 'bridge-1');
  t.same(
    first.map((r) => r.idempotencyKey),
    ['a', 'b'],
    'two oldest due rows',
  );
  t.match(first[0], { status: 'sending', claimedBy: 'bridge-1', claimedAtMs: T0, attempts: 1 });
  t.same(
    ledger.bridge.claimDue(T0, 10, 'bridge-2').map((r) => r.idempotencyKey),
    ['c'],
    'claimed rows are not handed out again',
  );
  t.same(ledger.bridge.claimDue(T0 + 1000, 10, 'bridge-2'), [], 'nothing due: "later" waits for its time');
  t.same(
    ledger.bridge.claimDue(T0 + 60_000, 10, 'bridge-2').map((r) => r.idempotencyKey),
    ['later'],
  );
  t.same(ledger.outbox.countByStatus(), { pending: 0, sending: 4, sent: 0, dead: 0 });
  ledger.close();
});

t.test('an expired lease lets another claimant take over a row whose sender died', async (t) => {
  const ledger = openLedger(join(t.testdir(), 'ledger.sqlite3'), { now: () => T0 });
  const { id } = ledger.outbox.enqueue(note('x'));
  t.equal(ledger.bridge.claimDue(T0, 10, 'dead-bridge').length, 1);
  t.same(ledger.bridge.claimDue(T0 + DEFAULT_OUTBOX_LEASE_MS - 1, 10, 'bridge-2'), [], 'lease still held');
  const taken = ledger.bridge.claimDue(T0 + DEFAULT_OUTBOX_LEASE_MS, 10, 'bridge-2');
  t.match(taken, [{ id, claimedBy: 'bridge-2', attempts: 2, claimedAtMs: T0 + DEFAULT_OUTBOX_LEASE_MS }], 'reclaimed, attempt counted');
  t.same(
    ledger.bridge.claimDue(T0 + DEFAULT_OUTBOX_LEASE_MS + 10, 10, 'bridge-3', 20),
    [],
    'custom lease of 20 ms not yet expired after 10 ms',
  );
  t.equal(ledger.bridge.claimDue(T0 + DEFAULT_OUTBOX_LEASE_MS + 30, 10, 'bridge-3', 20).length, 1, 'custom lease expired');
  ledger.close();
});

t.test('markFailed schedules a retry, markSent and markDead are final', async (t) => {
  let clock = T0;
  const ledger = openLedger(join(t.testdir(), 'ledger.sqlite3'), { now: () => clock });
  const { id } = ledger.outbox.enqueue(note('retry'));
  const { id: other } = ledger.outbox.enqueue(note('poison'));

  t.notOk(ledger.bridge.markSent(id), 'a pending (unclaimed) row cannot be marked sent');
  t.notOk(ledger.bridge.markFailed(id, 'x', T0), 'nor failed');
  ledger.bridge.claimDue(T0, 10, 'b');
  t.ok(ledger.bridge.markFailed(id, 'HTTP 502 from api.telegram.org', T0 + 30_000));
  t.match(ledger.outbox.getOutbox(id), {
    status: 'pending',
    lastError: 'HTTP 502 from api.telegram.org',
    nextAttemptAtMs: T0 + 30_000,
    claimedAtMs: null,
    attempts: 1,
  });
  t.same(ledger.bridge.claimDue(T0 + 29_999, 10, 'b'), [], 'not retried before its time');
  t.equal(ledger.bridge.claimDue(T0 + 30_000, 10, 'b').length, 1, 'retried at its time');
  clock = T0 + 31_000;
  t.ok(ledger.bridge.markSent(id));
  t.match(ledger.outbox.getOutbox(id), { status: 'sent', sentAtMs: T0 + 31_000, attempts: 2, lastError: null });
  t.notOk(ledger.bridge.markSent(id), 'sent twice is refused');
  t.notOk(ledger.bridge.markFailed(id, 'late failure', T0), 'a sent row is not downgraded');
  t.notOk(ledger.bridge.markDead(id, 'late'), 'a sent row cannot die');

  t.ok(ledger.bridge.markDead(other, 'HTTP 400: chat not found'), 'pending -> dead');
  t.match(ledger.outbox.getOutbox(other), { status: 'dead', lastError: 'HTTP 400: chat not found' });
  t.same(ledger.bridge.claimDue(T0 + 10 * DEFAULT_OUTBOX_LEASE_MS, 10, 'b'), [], 'dead and sent rows are never claimed');
  t.same(ledger.outbox.countByStatus(), { pending: 0, sending: 0, sent: 1, dead: 1 });
  ledger.close();
});

t.test('claimDue keeps each transport in creation order: a row waiting for its retry holds back the later ones', async (t) => {
  const ledger = openLedger(join(t.testdir(), 'ledger.sqlite3'), { now: () => T0 });
  const a1 = ledger.outbox.enqueue(note('a1', { transport: 'tg', createdAtMs: T0 - 30 })).id;
  ledger.outbox.enqueue(note('b1', { transport: 'mx', createdAtMs: T0 - 20 }));
  ledger.outbox.enqueue(note('a2', { transport: 'tg', createdAtMs: T0 - 10 }));
  ledger.outbox.enqueue(note('sched', { transport: 'mx', createdAtMs: T0 - 25, notBeforeMs: T0 + 3_600_000 }));
  ledger.outbox.enqueue(note('b2', { transport: 'mx', createdAtMs: T0 - 5 }));

  t.same(
    ledger.bridge.claimDue(T0, 1, 'b').map((r) => r.idempotencyKey),
    ['a1'],
    'oldest created first',
  );
  t.ok(ledger.bridge.markFailed(a1, 'HTTP 502', T0 + 10_000));
  t.same(
    ledger.bridge.claimDue(T0 + 1, 10, 'b').map((r) => r.idempotencyKey),
    ['b1', 'b2'],
    'a2 waits behind a1; a row scheduled for later holds nothing back',
  );
  t.same(
    ledger.bridge.claimDue(T0 + 10_000, 10, 'b').map((r) => r.idempotencyKey),
    ['a1', 'a2'],
    'both once a1 is due, in creation order',
  );
  ledger.close();
});

t.test('claimDue: a live claim of another claimant holds its transport back, an expired one does not', async (t) => {
  const ledger = openLedger(join(t.testdir(), 'ledger.sqlite3'), { now: () => T0 });
  ledger.outbox.enqueue(note('x1', { transport: 'tg', createdAtMs: T0 - 2 }));
  t.equal(ledger.bridge.claimDue(T0, 1, 'other').length, 1);
  ledger.outbox.enqueue(note('x2', { transport: 'tg', createdAtMs: T0 - 1 }));
  t.same(ledger.bridge.claimDue(T0 + 10, 10, 'me', 1000), [], 'x1 is held by a live claim');
  t.same(
    ledger.bridge.claimDue(T0 + 10, 10, 'other', 1000).map((r) => r.idempotencyKey),
    ['x2'],
    'its own claims do not hold a claimant back',
  );
  ledger.outbox.enqueue(note('x3', { transport: 'tg', createdAtMs: T0 }));
  t.same(
    ledger.bridge.claimDue(T0 + 2000, 10, 'me', 1000).map((r) => r.idempotencyKey),
    ['x1', 'x2', 'x3'],
    'expired claims are taken over, in order',
  );
  ledger.close();
});

t.test('claimDue in quiet hours leaves non-critical transport rows pending without holding others back', async (t) => {
  const ledger = openLedger(join(t.testdir(), 'ledger.sqlite3'), { now: () => T0 });
  ledger.outbox.enqueue(note('w', { transport: 'tg', severity: 'warning', createdAtMs: T0 - 4 }));
  ledger.outbox.enqueue(note('c', { transport: 'tg', severity: 'critical', createdAtMs: T0 - 3 }));
  ledger.outbox.enqueue(note('reply', { transport: 'tg', kind: 'command_reply', createdAtMs: T0 - 2 }));
  ledger.outbox.enqueue(note('parent', { severity: 'info', createdAtMs: T0 - 1 }));
  const quiet = { quiet: { exceptKinds: ['command_reply'] } };
  t.same(
    ledger.bridge.claimDue(T0, 10, 'b', undefined, quiet).map((r) => r.idempotencyKey),
    ['c', 'reply', 'parent'],
  );
  t.match(ledger.outbox.findOutbox('w'), { status: 'pending', attempts: 0 });
  t.same(
    ledger.bridge.claimDue(T0, 10, 'b').map((r) => r.idempotencyKey),
    ['w'],
    'claimed once quiet hours end',
  );
  ledger.close();
});

t.test('markSent keeps the platform message id; fingerprints find repeats inside a window', async (t) => {
  let clock = T0;
  const ledger = openLedger(join(t.testdir(), 'ledger.sqlite3'), { now: () => clock });
  const first = ledger.outbox.enqueue(note('alarm:1:raised:tg', { transport: 'tg', fingerprint: 'fp1' })).id;
  const again = ledger.outbox.enqueue(note('again:tg', { transport: 'tg', fingerprint: 'fp1' })).id;
  ledger.bridge.claimDue(T0, 10, 'b');
  t.same(ledger.bridge.sentWithFingerprint('tg', 'fp1', T0 - 1000), undefined, 'nothing sent yet');
  t.ok(ledger.bridge.markSent(first, T0 + 5, '4711'));
  t.match(ledger.outbox.findOutbox('alarm:1:raised:tg'), { id: first, status: 'sent', platformMessageId: '4711', fingerprint: 'fp1' });
  t.equal(ledger.outbox.findOutbox('nope'), undefined);
  t.same(ledger.bridge.sentWithFingerprint('tg', 'fp1', T0), { key: 'alarm:1:raised:tg', sentAtMs: T0 + 5 });
  t.same(ledger.bridge.sentWithFingerprint('tg', 'fp1', T0 + 6), undefined, 'outside the window');
  t.same(ledger.bridge.sentWithFingerprint('mx', 'fp1', T0), undefined, 'another transport');
  clock = T0 + 10;
  t.ok(ledger.bridge.markRepeat(again, 'alarm:1:raised:tg'));
  t.match(ledger.outbox.getOutbox(again), {
    status: 'sent',
    sentAtMs: T0 + 10,
    fingerprint: null,
    lastError: 'not sent: repeat of alarm:1:raised:tg',
    platformMessageId: null,
  });
  t.same(ledger.bridge.sentWithFingerprint('tg', 'fp1', T0 + 6), undefined, 'a suppressed repeat does not extend the window');
  t.notOk(ledger.bridge.markRepeat(again, 'x'), 'only a sending row');
  ledger.close();
});

t.test('producedBetween lists producer rows of a window by key prefix', async (t) => {
  const ledger = openLedger(join(t.testdir(), 'ledger.sqlite3'), { now: () => T0 });
  ledger.outbox.enqueue(note('alarm:1:raised', { createdAtMs: T0 - 10 }));
  ledger.outbox.enqueue(note('alarm:1:raised:tg', { transport: 'tg', createdAtMs: T0 - 10 }));
  ledger.outbox.enqueue(note('alarm:1:cleared', { createdAtMs: T0 - 5 }));
  ledger.outbox.enqueue(note('round:9', { createdAtMs: T0 - 5 }));
  ledger.outbox.enqueue(note('alarm:2:raised', { createdAtMs: T0 }));
  t.same(
    ledger.outbox.producedBetween(T0 - 10, T0, 'alarm:').map((r) => r.idempotencyKey),
    ['alarm:1:raised', 'alarm:1:cleared'],
  );
  ledger.close();
});
