import { join } from 'node:path';
import t, { type Test } from 'tap';
import type { BridgeConfig } from '@agent-runner/core/config';
import { clearAlarm, raiseAlarm } from '@agent-runner/core/alarms';
import { openLedger, type Ledger, type OutboxRecord } from '@agent-runner/core/ledger';
import { Dispatcher } from '../src/dispatcher.js';
import { failuresBefore } from '../src/retry.js';
import type { Transport } from '../src/transport.js';
import { createTransport } from '../src/transports/index.js';
import { ctx, diskFullLedger, notifyCfg, tmp } from './helpers.js';
import { matrixStub, telegramStub, type MatrixStub, type TelegramStub } from './stubs.js';

const ROOM = '!r:x';
const TOKEN = '1:tok';

interface Rig {
  ledger: Ledger;
  d: Dispatcher;
  /** A new bridge incarnation on the same ledger file: its own connection and dispatcher. */
  incarnation(): Dispatcher;
  mx: MatrixStub;
  tg: TelegramStub;
  clock: { ms: number };
  dead: Array<{ row: OutboxRecord; error: string }>;
  run(d?: Dispatcher): Promise<void>;
}

async function rig(
  t: Test,
  opts: { bridge?: Partial<BridgeConfig>; tg?: Record<string, unknown>; mx?: Record<string, unknown>; startMs?: number } = {},
): Promise<Rig> {
  const dir = tmp();
  const clock = { ms: opts.startMs ?? Date.parse('2026-03-02T12:00:00Z') };
  const now = (): number => clock.ms;
  const ledger = openLedger(join(dir.dir, 'ledger.sqlite3'), { now });
  const mx = await matrixStub('mt', ROOM);
  const tg = await telegramStub(TOKEN);
  const c = { ...ctx({ MT: 'mt', TG: TOKEN }), now };
  const transports = new Map<string, Transport>([
    ['mx', createTransport(notifyCfg('mx', 'matrix', { homeserver: mx.url, room_id: ROOM, access_token_env: 'MT', ...opts.mx }), c)],
    ['tg', createTransport(notifyCfg('tg', 'telegram', { chat_id: 5, api_url: tg.url, bot_token_env: 'TG', ...opts.tg }), c)],
  ]);
  const dead: Rig['dead'] = [];
  const bridge: BridgeConfig = { poll_interval_s: 1, max_attempts: 3, dedupe_window_s: 600, ...opts.bridge };
  const connections: Ledger[] = [];
  const dispatcher = (l: Ledger, claimant: string): Dispatcher =>
    new Dispatcher({
      ledger: l,
      transports,
      config: bridge,
      claimant,
      now,
      startedAtMs: clock.ms,
      random: () => 0.5,
      offsetMin: () => 0,
      log: () => undefined,
      onDeadLetter: (row, error) => dead.push({ row, error }),
      wake: () => undefined,
      holdMs: 0,
    });
  const d = dispatcher(ledger, 'test');
  const incarnation = (): Dispatcher => {
    const l = openLedger(ledger.path, { now });
    connections.push(l);
    return dispatcher(l, `test-${connections.length}`);
  };
  t.teardown(async () => {
    for (const l of connections) l.close();
    await c.http.close();
    await mx.close();
    await tg.close();
    ledger.close();
    dir.cleanup();
  });
  const run = async (dd = d): Promise<void> => {
    for (let i = 0; i < 200; i++) {
      dd.pump();
      if (dd.pending === 0 && i > 0) {
        // one more pump: fan-out children become due at once
        if (dd.pump() === 0 && dd.pending === 0) return;
      }
      await new Promise((r) => setTimeout(r, 5));
    }
    throw new Error('dispatcher did not settle');
  };
  return { ledger, d, incarnation, mx, tg, clock, dead, run };
}

const row = (key: string, over: Record<string, unknown> = {}) => ({
  idempotencyKey: key,
  kind: 'round_end',
  severity: 'warning' as const,
  title: `title ${key}`,
  body: 'body',
  ...over,
});

t.test('routing fans a producer row out per transport by severity and kind', async (t) => {
  const r = await rig(t, { tg: { min_severity: 'error' } });
  r.ledger.outbox.enqueue(row('a'));
  r.ledger.outbox.enqueue(row('b', { severity: 'critical' }));
  await r.run();
  t.same(
    r.mx.events.map((e) => e.txn),
    ['a:mx', 'b:mx'],
  );
  t.equal(r.tg.sent.length, 1, 'telegram only gets >= error');
  t.match(r.tg.sent[0]?.text, /title b/);
  const byStatus = r.ledger.outbox.countByStatus();
  t.same(byStatus, { pending: 0, sending: 0, sent: 5, dead: 0 }, '2 parents + 3 children sent');
});

t.test('a failure on one transport never resends on the others; Retry-After is honoured', async (t) => {
  const r = await rig(t);
  r.tg.fail('/sendMessage', {
    status: 429,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ ok: false, error_code: 429, description: 'Too Many Requests', parameters: { retry_after: 30 } }),
  });
  const { id } = r.ledger.outbox.enqueue(row('x'));
  await r.run();
  t.equal(r.mx.puts, 1);
  t.equal(r.tg.sent.length, 0);
  const child = r.ledger.outbox.getOutbox(id + 2) ?? r.ledger.outbox.getOutbox(id + 1);
  const tgRow = [r.ledger.outbox.getOutbox(id + 1), r.ledger.outbox.getOutbox(id + 2)].find((x) => x?.transport === 'tg');
  t.ok(child);
  t.equal(tgRow?.status, 'pending');
  t.ok((tgRow?.nextAttemptAtMs ?? 0) >= r.clock.ms + 30_000, 'not before Retry-After');
  t.equal(failuresBefore({ attempts: 2, lastError: tgRow?.lastError ?? null }), 1);
  r.clock.ms += 31_000;
  await r.run();
  t.equal(r.tg.sent.length, 1, 'retried after the wait');
  t.equal(r.mx.puts, 1, 'matrix not touched again');
});

t.test('exponential back-off, then dead-letter after max_attempts; permanent errors at once', async (t) => {
  const r = await rig(t, { bridge: { max_attempts: 3 } });
  r.tg.fail('/sendMessage', { status: 500 }, { status: 502 }, { status: 503 });
  r.ledger.outbox.enqueue(row('y', { transport: 'tg' }));
  const delays: number[] = [];
  for (let i = 0; i < 3; i++) {
    await r.run();
    const rec = r.ledger.outbox.getOutbox(1);
    if (rec?.status !== 'pending') break;
    delays.push(rec.nextAttemptAtMs - r.clock.ms);
    r.clock.ms = rec.nextAttemptAtMs;
  }
  t.same(delays, [2000, 4000], 'delays double (jitter fixed at 0)');
  t.equal(r.ledger.outbox.getOutbox(1)?.status, 'dead');
  t.equal(r.dead.length, 1);
  t.equal(r.dead[0]?.row.attempts, 3);
  t.match(r.dead[0]?.error, /503/);

  r.tg.fail('/sendMessage', {
    status: 400,
    headers: { 'content-type': 'application/json' },
    body: '{"ok":false,"error_code":400,"description":"Bad Request: chat not found"}',
  });
  r.ledger.outbox.enqueue(row('z', { transport: 'tg' }));
  await r.run();
  t.equal(r.ledger.outbox.getOutbox(2)?.status, 'dead');
  t.match(r.dead[1]?.error, /permanent: .*chat not found/);
});

t.test('repeats inside dedupe_window_s are sent once, across bridge incarnations; alarms never count as repeats', async (t) => {
  const r = await rig(t, { bridge: { dedupe_window_s: 60 } });
  r.ledger.outbox.enqueue(row('d1', { title: 'same' }));
  r.ledger.outbox.enqueue(row('d2', { title: 'same' }));
  await r.run();
  t.same(
    r.mx.events.map((e) => e.txn),
    ['d1:mx'],
  );
  t.equal(r.tg.sent.length, 1);
  t.match(
    r.ledger.outbox.findOutbox('d2:mx'),
    { status: 'sent', lastError: 'not sent: repeat of d1:mx', fingerprint: null },
    'the repeat is closed, not left pending',
  );
  t.equal(r.d.stats.deduplicated, 2);

  // A second incarnation (its own connection and dispatcher, nothing in memory) still knows.
  r.clock.ms += 30_000;
  const second = r.incarnation();
  r.ledger.outbox.enqueue(row('d3', { title: 'same' }));
  r.ledger.outbox.enqueue(row('d4', { title: 'other' }));
  await r.run(second);
  t.same(
    r.mx.events.map((e) => e.txn),
    ['d1:mx', 'd4:mx'],
    'the repeat after a restart is not sent; a different text is',
  );
  t.equal(second.stats.deduplicated, 2);

  // Alarms and recoveries with the same text as an earlier one are new episodes: always sent.
  const alarm = (k: string, phase: string) => row(k, { title: 'same', kind: 'auth_paused', payload: { phase, cause: 'auth_paused' } });
  r.ledger.outbox.enqueue(alarm('alarm:1:raised', 'alarm'));
  r.ledger.outbox.enqueue(alarm('alarm:1:cleared', 'recovery'));
  r.ledger.outbox.enqueue(alarm('alarm:2:raised', 'alarm'));
  await r.run(second);
  t.same(r.mx.events.map((e) => e.txn).slice(2), ['alarm:1:raised:mx', 'alarm:1:cleared:mx', 'alarm:2:raised:mx']);

  r.clock.ms += 61_000;
  r.ledger.outbox.enqueue(row('d5', { title: 'same' }));
  await r.run(second);
  t.equal(r.mx.events.at(-1)?.txn, 'd5:mx', 'sent again once the window has passed since the last real send');
});

t.test('quiet hours hold everything but critical until the window ends', async (t) => {
  const r = await rig(t, { bridge: { quiet_hours: '22:00-07:00' }, startMs: Date.parse('2026-03-02T23:30:00Z') });
  r.ledger.outbox.enqueue(row('q1', { transport: 'mx' }));
  r.ledger.outbox.enqueue(row('q2', { transport: 'mx', severity: 'critical' }));
  await r.run();
  t.same(
    r.mx.events.map((e) => e.txn),
    ['q2'],
    'critical goes out; the earlier warning does not hold it back',
  );
  t.match(r.ledger.outbox.getOutbox(1), { status: 'pending', attempts: 0 }, 'left unclaimed');
  r.clock.ms = Date.parse('2026-03-03T06:59:59Z');
  await r.run();
  t.equal(r.mx.events.length, 1, 'still quiet');
  r.clock.ms = Date.parse('2026-03-03T07:00:00Z');
  await r.run();
  t.same(
    r.mx.events.map((e) => e.txn),
    ['q2', 'q1'],
  );
  t.equal(r.dead.length, 0);
});

t.test('max_per_minute defers the excess to the next free slot', async (t) => {
  const r = await rig(t, { mx: { max_per_minute: 2 } });
  for (const k of ['r1', 'r2', 'r3']) r.ledger.outbox.enqueue(row(k, { transport: 'mx' }));
  await r.run();
  t.equal(r.mx.events.length, 2);
  const third = r.ledger.outbox.getOutbox(3);
  t.equal(third?.status, 'pending');
  t.equal(third?.nextAttemptAtMs, r.clock.ms + 60_000);
  t.equal(failuresBefore({ attempts: 2, lastError: third?.lastError ?? null }), 0, 'a deferral is not a failure');
  r.clock.ms += 60_000;
  await r.run();
  t.equal(r.mx.events.length, 3);
});

t.test('rows a dead bridge claimed are taken over at once, not after the lease', async (t) => {
  const r = await rig(t);
  r.ledger.outbox.enqueue(row('c1', { transport: 'mx', createdAtMs: r.clock.ms - 2000 }));
  // A previous incarnation claimed it a second before this one started, then died.
  const claimed = r.ledger.bridge.claimDue(r.clock.ms - 1000, 10, 'dead-bridge');
  t.equal(claimed.length, 1);
  r.clock.ms += 10;
  await r.run();
  t.same(
    r.mx.events.map((e) => e.txn),
    ['c1'],
  );
  t.equal(r.ledger.outbox.getOutbox(1)?.status, 'sent');
  // A row this incarnation itself holds is not taken again by the next pump.
  r.ledger.outbox.enqueue(row('c2', { transport: 'mx' }));
  const mine = r.ledger.bridge.claimDue(r.clock.ms, 10, 'test');
  t.equal(mine.length, 1);
  t.equal(r.d.pump(), 0, 'own in-flight row not re-claimed');
});

t.test('a row re-claimed after its lease while still queued is not sent twice', async (t) => {
  const dir = tmp();
  const clock = { ms: Date.parse('2026-03-02T12:00:00Z') };
  const now = (): number => clock.ms;
  const ledger = openLedger(join(dir.dir, 'ledger.sqlite3'), { now });
  t.teardown(() => {
    ledger.close();
    dir.cleanup();
  });
  const sent: string[] = [];
  let release: (() => void) | undefined;
  const slow: Transport = {
    name: 'slow',
    type: 'webhook',
    config: notifyCfg('slow', 'webhook', { url: 'http://unused' }),
    send: async (m) => {
      await new Promise<void>((r) => (release = r));
      sent.push(m.key);
      return {};
    },
  };
  const d = new Dispatcher({
    ledger,
    transports: new Map([['slow', slow]]),
    config: { poll_interval_s: 1, max_attempts: 3, dedupe_window_s: 0 },
    claimant: 'me',
    now,
    startedAtMs: clock.ms - 1,
    log: () => undefined,
    onDeadLetter: () => undefined,
    wake: () => undefined,
    holdMs: 0,
  });
  ledger.outbox.enqueue({ idempotencyKey: 'a', kind: 'k', severity: 'error', title: 'a', transport: 'slow' });
  ledger.outbox.enqueue({ idempotencyKey: 'b', kind: 'k', severity: 'error', title: 'b', transport: 'slow' });
  t.equal(d.pump(), 2);
  await new Promise((r) => setTimeout(r, 20));
  clock.ms += 6 * 60_000; // both leases expire while 'a' is being sent and 'b' waits behind it
  t.equal(d.pump(), 2, 'claimDue hands the held rows out again (lease renewed)');
  t.equal(d.pending, 2, 'but they are not queued twice');
  release?.();
  await new Promise((r) => setTimeout(r, 20));
  release?.();
  await new Promise((r) => setTimeout(r, 20));
  t.same(sent, ['a', 'b']);
  t.equal(d.pending, 0);
  t.same(ledger.outbox.countByStatus(), { pending: 0, sending: 0, sent: 2, dead: 0 });
});

t.test('creation order per transport: a receiver refusing for a while gets the alert before the stop it caused', async (t) => {
  const r = await rig(t, { bridge: { max_attempts: 10 } });
  r.tg.fail('/sendMessage', { status: 502 }, { status: 503 }, { reset: true });
  r.ledger.outbox.enqueue(row('alert', { title: 'disk nearly full' }));
  r.ledger.outbox.enqueue(row('stop', { title: 'runner stopped by the monitor', severity: 'critical' }));
  await r.run();
  t.same(
    r.mx.events.map((e) => e.txn),
    ['alert:mx', 'stop:mx'],
    'the healthy transport is not held up',
  );
  t.equal(r.tg.sent.length, 0);
  t.match(
    r.ledger.outbox.findOutbox('stop:tg'),
    { status: 'pending', lastError: /deferred: behind alert:tg/ },
    'handed back behind the failed row',
  );
  t.equal(failuresBefore(r.ledger.outbox.findOutbox('stop:tg') as OutboxRecord), 0, 'waiting behind is not a failure');
  r.ledger.outbox.enqueue(row('later', { title: 'one more' }));
  for (let i = 0; i < 5 && r.tg.sent.length < 3; i++) {
    const head = r.ledger.outbox.findOutbox('alert:tg') as OutboxRecord;
    r.clock.ms = Math.max(r.clock.ms, head.nextAttemptAtMs);
    await r.run();
  }
  const sendCalls = r.tg.requests
    .filter((q) => q.url.endsWith('/sendMessage'))
    .map((q) => String((q.json as { text?: string } | undefined)?.text ?? '').split('\n')[0]);
  t.same(
    sendCalls,
    ['disk nearly full', 'disk nearly full', 'disk nearly full', 'disk nearly full', 'runner stopped by the monitor', 'one more'],
    'nothing behind the alert was tried before it went through',
  );
  t.same(
    r.tg.sent.map((s) => s.text.split('\n')[0]),
    ['disk nearly full', 'runner stopped by the monitor', 'one more'],
  );
  t.same(r.ledger.outbox.countByStatus(), { pending: 0, sending: 0, sent: 9, dead: 0 });
});

t.test('a recovery replies to its alarm: Telegram reply_parameters, Matrix m.in_reply_to', async (t) => {
  const r = await rig(t);
  const scope = { project: 'app', host: 'pi' };
  raiseAlarm(r.ledger, 'auth_paused', { agent: 'claude', evidence: '401', hint: 'claude /login', probe_interval_s: 300 }, scope);
  await r.run();
  clearAlarm(r.ledger, 'auth_paused', { paused_s: 600 }, scope);
  await r.run();
  t.equal(r.tg.sent.length, 2);
  t.match(
    r.tg.sent[0]?.text,
    /^app@pi: claude login rejected, rounds paused\n\nRounds are paused/,
    'title as the producer wrote it, then the body',
  );
  t.equal(r.tg.sent[0]?.reply_to, undefined);
  t.equal(r.tg.sent[1]?.reply_to, 1, 'the recovery replies to the alarm (message_id 1)');
  t.match(r.tg.sent[1]?.text, /^app@pi: resolved: authentication works again/);
  t.same(
    r.mx.events.map((e) => e.reply_to ?? null),
    [null, r.mx.events[0]?.event_id],
  );
  t.same(r.mx.events[0]?.mentions, {}, 'nothing pings');
  t.match(r.ledger.outbox.findOutbox('alarm:1:raised:tg'), { platformMessageId: '1' });
  t.match(r.ledger.outbox.findOutbox('alarm:1:raised:mx'), { platformMessageId: r.mx.events[0]?.event_id });
});

t.test('a full disk never kills delivery: the write is kept, logged once, and done once space is free', async (t) => {
  const dir = tmp();
  const clock = { ms: Date.parse('2026-03-02T12:00:00Z') };
  const now = (): number => clock.ms;
  const ledger = openLedger(join(dir.dir, 'ledger.sqlite3'), { now });
  const mx = await matrixStub('mt', ROOM);
  const c = { ...ctx({ MT: 'mt' }), now };
  t.teardown(async () => {
    await c.http.close();
    await mx.close();
    ledger.close();
    dir.cleanup();
  });
  const full = { on: false };
  const faulty = diskFullLedger(ledger, full);
  const logs: string[] = [];
  const transports = new Map([
    ['mx', createTransport(notifyCfg('mx', 'matrix', { homeserver: mx.url, room_id: ROOM, access_token_env: 'MT' }), c)],
  ]);
  const d = new Dispatcher({
    ledger: faulty,
    transports,
    config: { poll_interval_s: 1, max_attempts: 3, dedupe_window_s: 0 },
    claimant: 'me',
    now,
    startedAtMs: clock.ms,
    log: (p, l) => void logs.push(`${p} ${l}`),
    onDeadLetter: () => undefined,
    wake: () => undefined,
    holdMs: 0,
  });
  ledger.outbox.enqueue({ idempotencyKey: 'n1', kind: 'k', severity: 'error', title: 'n1', transport: 'mx' });
  t.equal(d.pump(), 1);
  full.on = true; // the disk fills while n1 is on the wire
  while (d.pending > 0) await new Promise((r) => setTimeout(r, 5));
  t.equal(mx.events.length, 1);
  ledger.outbox.enqueue({ idempotencyKey: 'n2', kind: 'k', severity: 'error', title: 'n2', transport: 'mx' });
  for (let i = 0; i < 5; i++) t.equal(d.pump(), 0, 'nothing claimed while the disk is full');
  t.equal(logs.filter((l) => /disk is full/.test(l)).length, 1, 'logged once');
  t.match(ledger.outbox.findOutbox('n1'), { status: 'sending' });
  full.on = false;
  t.equal(d.pump(), 1, 'n2 claimed once space is free');
  while (d.pending > 0) await new Promise((r) => setTimeout(r, 5));
  t.same(
    mx.events.map((e) => e.txn),
    ['n1', 'n2'],
    'n1 not sent twice',
  );
  t.same(ledger.outbox.countByStatus(), { pending: 0, sending: 0, sent: 2, dead: 0 });
  t.match(logs.at(-1), /^notice ledger writes work again/);
});
