// inbox and cursors on a real SQLite file: idempotent ingest, atomic cursor advance,
// first-consumer-wins handling.
import t from 'tap';
import { join } from 'node:path';
import { openLedger, type InboundCommandInput } from '../src/ledger/index.js';

const T0 = Date.parse('2025-03-01T12:00:00Z');
const cmd = (id: string, command = 'status', extra: Partial<InboundCommandInput> = {}): InboundCommandInput => ({
  transport: 'telegram',
  platformMessageId: id,
  sender: '12345',
  chat: '-100200',
  command,
  ...extra,
});

t.test('insertCommand is idempotent per (transport, platform message id)', async (t) => {
  const ledger = openLedger(join(t.testdir(), 'ledger.sqlite3'), { now: () => T0 });
  t.same(ledger.bridge.insertCommand(cmd('900', 'tail', { args: ['50'] })), { id: 1, inserted: true });
  t.same(ledger.bridge.insertCommand(cmd('900', 'tail')), { id: 1, inserted: false }, 'redelivered update ignored');
  const slack = ledger.bridge.insertCommand(cmd('900', 'pause', { transport: 'slack' }));
  t.match(slack, { inserted: true }, 'same id on another transport is another command');
  t.not(slack.id, 1);
  t.match(ledger.bridge.getCommand(1), {
    command: 'tail',
    args: ['50'],
    status: 'pending',
    receivedAtMs: T0,
    chat: '-100200',
    handledAtMs: null,
  });
  t.match(ledger.bridge.getCommand(slack.id), { command: 'pause', args: [] }, 'args default to []');
  t.equal(ledger.bridge.pendingCommands().length, 2);
  ledger.close();
});

t.test('insertCommands stores a batch and its cursor together, or neither', async (t) => {
  const ledger = openLedger(join(t.testdir(), 'ledger.sqlite3'), { now: () => T0 });
  t.equal(ledger.bridge.getCursor('telegram.offset'), undefined);
  const r = ledger.bridge.insertCommands([cmd('1'), cmd('2'), cmd('1')], { name: 'telegram.offset', value: '3' });
  t.same(
    r.map((x) => x.inserted),
    [true, true, false],
  );
  t.equal(r[2]!.id, r[0]!.id, 'the duplicate in the batch maps to the first');
  t.equal(ledger.bridge.getCursor('telegram.offset'), '3');

  // A bad command in the batch (no sender) rolls back the whole batch and the cursor.
  const bad = { ...cmd('4'), sender: null as unknown as string };
  t.throws(() => ledger.bridge.insertCommands([cmd('3'), bad], { name: 'telegram.offset', value: '5' }));
  t.equal(ledger.bridge.getCursor('telegram.offset'), '3', 'cursor not advanced past lost commands');
  t.equal(ledger.bridge.pendingCommands().length, 2, 'command 3 rolled back with the batch');

  ledger.bridge.setCursor('telegram.offset', '7');
  t.equal(ledger.bridge.getCursor('telegram.offset'), '7');
  ledger.close();
});

t.test('pendingCommands and markHandled: oldest first, first consumer wins', async (t) => {
  let clock = T0;
  const ledger = openLedger(join(t.testdir(), 'ledger.sqlite3'), { now: () => clock });
  ledger.bridge.insertCommand(cmd('1', 'pause'));
  ledger.bridge.insertCommand(cmd('2', 'resume'));
  ledger.bridge.insertCommand(cmd('3', 'stop'));
  t.same(
    ledger.bridge.pendingCommands().map((c) => c.command),
    ['pause', 'resume', 'stop'],
  );
  t.same(
    ledger.bridge.pendingCommands(2).map((c) => c.command),
    ['pause', 'resume'],
    'limit',
  );

  clock = T0 + 500;
  t.ok(ledger.bridge.markHandled(1, 'done', 'paused after round 12', 'runner'));
  t.notOk(ledger.bridge.markHandled(1, 'rejected', 'too late', 'cli'), 'second consumer loses');
  t.ok(ledger.bridge.markHandled(3, 'rejected', 'sender not allowed to stop'));
  t.match(ledger.bridge.getCommand(1), { status: 'done', result: 'paused after round 12', handledBy: 'runner', handledAtMs: T0 + 500 });
  t.match(ledger.bridge.getCommand(3), { status: 'rejected', handledBy: null });
  t.same(
    ledger.bridge.pendingCommands().map((c) => c.command),
    ['resume'],
  );
  ledger.close();
});
