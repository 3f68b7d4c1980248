import t from 'tap';
import { matrixTransport } from '../src/transports/matrix.js';
import { ctx, msg, notifyCfg, rejection } from './helpers.js';
import { matrixStub } from './stubs.js';

const ROOM = '!ops:example.org';

t.test('matrix send is idempotent on the transaction id', async (t) => {
  const stub = await matrixStub('syt_secret', ROOM);
  const c = ctx({ MATRIX_ACCESS_TOKEN: 'syt_secret' });
  t.teardown(async () => {
    await c.http.close();
    await stub.close();
  });
  const m = matrixTransport(notifyCfg('mx', 'matrix', { homeserver: stub.url, room_id: ROOM, access_token_env: 'MATRIX_ACCESS_TOKEN' }), c);
  await m.send(msg({ key: 'round-end:7:mx' }));
  await m.send(msg({ key: 'round-end:7:mx' }));
  t.equal(stub.puts, 2);
  t.equal(stub.events.length, 1, 'the resend with the same txnId is the same event');
  t.equal(stub.events[0]?.txn, 'round-end:7:mx');
  t.match(stub.requests[0]?.url, `/rooms/${encodeURIComponent(ROOM)}/send/m.room.message/round-end%3A7%3Amx`);

  await m.send(msg({ key: 'big', body: 'q'.repeat(40_000) }));
  t.same(
    stub.events.slice(1).map((e) => e.txn),
    ['big', 'big.1', 'big.2'],
    'chunks get their own txn ids',
  );
  // Control characters are 6 bytes each as JSON: still under the 65,536-byte event limit (the stub refuses more).
  const before = stub.events.length;
  await m.send(msg({ key: 'ctl', body: '\x1b\x07'.repeat(15_000) }));
  t.ok(stub.events.length - before >= 2, 'chunked by the encoded size, none refused');

  stub.fail('/send/', {
    status: 429,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ errcode: 'M_LIMIT_EXCEEDED', error: 'Too many requests', retry_after_ms: 1500 }),
  });
  let e = await rejection(m.send(msg({ key: 'k429' })));
  t.equal(e.retryable, true);
  t.equal(e.retryAfterMs, 1500);
  stub.fail('/send/', { status: 502, body: 'bad gateway' });
  t.equal((await rejection(m.send(msg({ key: 'k502' })))).retryable, true);
  stub.fail('/send/', { status: 200, body: '{"event_id":' });
  t.match((await rejection(m.send(msg({ key: 'kjson' })))).message, /malformed JSON/);
  stub.fail('/send/', { hang: true });
  t.match((await rejection(m.send(msg({ key: 'khang' })))).message, /timed out/);
  const bad = matrixTransport(
    notifyCfg('mx', 'matrix', { homeserver: stub.url, room_id: ROOM, access_token_env: 'T' }),
    ctx({ T: 'wrong' }),
  );
  e = await rejection(bad.send(msg()));
  t.equal(e.retryable, false);
  t.match(e.message, /M_UNKNOWN_TOKEN/);
  t.notMatch(e.message, /syt_secret|wrong/);
});

t.test('matrix /sync: first sync sets the cursor, later ones return room messages', async (t) => {
  const stub = await matrixStub('tok', ROOM);
  const c = ctx({ T: 'tok' });
  t.teardown(async () => {
    await c.http.close();
    await stub.close();
  });
  const m = matrixTransport(notifyCfg('mx', 'matrix', { homeserver: stub.url, room_id: ROOM, access_token_env: 'T' }), c);
  stub.push('@old:example.org', '/stop');
  const first = await m.poll!(undefined, new AbortController().signal);
  t.equal(first.initial, true);
  t.equal(first.messages.length, 0, 'history is not returned as commands');
  setTimeout(() => stub.push('@alice:example.org', '/pause 1h'), 100);
  const second = await m.poll!(first.cursor, new AbortController().signal);
  t.same(
    second.messages.map((x) => [x.sender, x.chat, x.text]),
    [['@alice:example.org', ROOM, '/pause 1h']],
  );
  t.not(second.cursor, first.cursor);
  // An edit is a new m.room.message event (`m.replace`), its body possibly the new text as it
  // is: never a command.
  stub.push('@alice:example.org', '/stop', {
    'm.new_content': { msgtype: 'm.text', body: '/stop' },
    'm.relates_to': { rel_type: 'm.replace', event_id: '$in1' },
  });
  stub.push('@alice:example.org', '/resume');
  const third = await m.poll!(second.cursor, new AbortController().signal);
  t.same(
    third.messages.map((x) => x.text),
    ['/resume'],
    'the edit to "/stop" is skipped',
  );
});
