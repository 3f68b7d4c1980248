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
  t.match(ledger.outbox.getOutbox(1), { body: 'first', payload: { round: 1 }, status: 'pending', attempts: 0, nextAttemptAtMs: T0, createdAtMs: T0 });
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
  t.same(first.map((r) => r.idempotencyKey), ['a', 'b'], 'two oldest due rows');
  t.match(first[0], { status: 'sending', claimedBy: 'bridge-1', claimedAtMs: T0, attempts: 1 });
  t.same(ledger.bridge.claimDue(T0, 10, 'bridge-2').map((r) => r.idempotencyKey), ['c'], 'claimed rows are not handed out again');
  t.same(ledger.bridge.claimDue(T0 + 1000, 10, 'bridge-2'), [], 'nothing due: "later" waits for its time');
  t.same(ledger.bridge.claimDue(T0 + 60_000, 10, 'bridge-2').map((r) => r.idempotencyKey), ['later']);
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
  t.match(ledger.outbox.getOutbox(id), { status: 'pending', lastError: 'HTTP 502 from api.telegram.org', nextAttemptAtMs: T0 + 30_000, claimedAtMs: null, attempts: 1 });
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
