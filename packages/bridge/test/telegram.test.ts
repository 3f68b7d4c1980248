import t from 'tap';
import { telegramTransport, TELEGRAM_MAX_CHARS } from '../src/transports/telegram.js';
import { ctx, msg, notifyCfg, rejection } from './helpers.js';
import { TELEGRAM_STUB_BOT, telegramStub } from './stubs.js';

const TOKEN = '123456:ABCdefGHIjklMNOpqrSTUvwxYZ0123456789';

t.test('telegram transport against a Bot API stub', async (t) => {
  const stub = await telegramStub(TOKEN);
  const c = ctx({ TG_TOKEN: TOKEN });
  t.teardown(async () => {
    await c.http.close();
    await stub.close();
  });
  const tg = telegramTransport(
    notifyCfg('tg', 'telegram', { chat_id: 42, api_url: stub.url, bot_token_env: 'TG_TOKEN', allowed_user_ids: [7] }),
    c,
  );

  await tg.send(msg());
  t.equal(stub.sent.length, 1);
  t.equal(stub.sent[0]?.chat_id, '42');
  t.match(stub.sent[0]?.text, /Round 7 rate limited\n\nresets at 14:00/);

  // Oversize: chunked under the 4096 limit (the stub refuses longer texts), capped at 4 chunks.
  stub.sent.length = 0;
  await tg.send(msg({ body: 'x'.repeat(10_000) }));
  t.equal(stub.sent.length, 3);
  t.ok(stub.sent.every((s) => s.text.length <= TELEGRAM_MAX_CHARS));
  stub.sent.length = 0;
  await tg.send(msg({ body: 'line of text\n'.repeat(5000) }));
  t.equal(stub.sent.length, 4, 'at most 4 chunks');
  t.match(stub.sent[3]?.text, /truncated; full text: agent-runner peek --round 7 --log\)$/);

  // 429 with parameters.retry_after (Telegram's flood control).
  stub.fail('/sendMessage', {
    status: 429,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ ok: false, error_code: 429, description: 'Too Many Requests: retry after 3', parameters: { retry_after: 3 } }),
  });
  let e = await rejection(tg.send(msg()));
  t.equal(e.retryable, true);
  t.equal(e.retryAfterMs, 3000);
  t.equal(e.status, 429);

  stub.fail('/sendMessage', { status: 502, body: '<html>Bad Gateway</html>' });
  e = await rejection(tg.send(msg()));
  t.equal(e.retryable, true, '5xx with an HTML body is retryable');
  t.match(e.message, /502/);

  stub.fail('/sendMessage', {
    status: 400,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ ok: false, error_code: 400, description: 'Bad Request: chat not found' }),
  });
  e = await rejection(tg.send(msg()));
  t.equal(e.retryable, false, 'chat not found is permanent');

  stub.fail('/sendMessage', { status: 200, body: '{"ok":tru' });
  e = await rejection(tg.send(msg()));
  t.equal(e.retryable, true);
  t.match(e.message, /malformed JSON/);

  stub.fail('/sendMessage', { hang: true });
  e = await rejection(tg.send(msg()));
  t.equal(e.retryable, true);
  t.match(e.message, /timed out/);

  stub.fail('/sendMessage', { reset: true });
  e = await rejection(tg.send(msg()));
  t.equal(e.retryable, true, 'connection reset is retryable');

  for (const err of [e]) t.notMatch(err.message, TOKEN, 'the token never appears in errors');

  const noToken = telegramTransport(notifyCfg('tg', 'telegram', { chat_id: 42, api_url: stub.url, bot_token_env: 'MISSING_TOKEN' }), c);
  e = await rejection(noToken.send(msg()));
  t.match(e.message, /MISSING_TOKEN/);
  t.equal(e.retryable, true);

  const badToken = telegramTransport(
    notifyCfg('tg', 'telegram', { chat_id: 42, api_url: stub.url, bot_token_env: 'BAD' }),
    ctx({ BAD: '999:nope' }),
  );
  e = await rejection(badToken.send(msg()));
  t.equal(e.retryable, false, '401 is permanent');
});

t.test('telegram getUpdates long polling', async (t) => {
  const stub = await telegramStub(TOKEN);
  const c = ctx({ TG_TOKEN: TOKEN });
  t.teardown(async () => {
    await c.http.close();
    await stub.close();
  });
  const tg = telegramTransport(notifyCfg('tg', 'telegram', { chat_id: 42, api_url: stub.url, bot_token_env: 'TG_TOKEN' }), c);
  const id1 = stub.push({ from: 7, chat: 42, text: '/status' });
  const r1 = await tg.poll!(undefined, new AbortController().signal);
  t.equal(r1.messages.length, 1);
  t.same(r1.messages[0], { platformMessageId: String(id1), sender: '7', chat: '42', text: '/status', sentAtMs: r1.messages[0]?.sentAtMs });
  t.equal(r1.cursor, String(id1 + 1));
  // The next poll passes the offset, so the update is confirmed and not returned again; it
  // waits until a new message arrives.
  setTimeout(() => stub.push({ from: 8, chat: 42, text: '/stop' }), 200);
  const started = Date.now();
  const r2 = await tg.poll!(r1.cursor, new AbortController().signal);
  t.ok(Date.now() - started >= 150, 'long poll waited for the message');
  t.same(
    r2.messages.map((m) => m.text),
    ['/stop'],
  );
  const last = stub.requests.at(-1)?.json as { offset: number; timeout: number };
  t.equal(last.offset, id1 + 1);
  t.equal(last.timeout, 30);
  // Aborting ends a poll at once.
  const ac = new AbortController();
  setTimeout(() => ac.abort(), 100);
  const e = await rejection(tg.poll!(r2.cursor, ac.signal));
  t.match(e.message, /aborted/);
});

t.test('telegram: getMe once before the first getUpdates; edited messages and other update kinds are never commands', async (t) => {
  const stub = await telegramStub(TOKEN);
  const c = ctx({ TG_TOKEN: TOKEN });
  t.teardown(async () => {
    await c.http.close();
    await stub.close();
  });
  const tg = telegramTransport(notifyCfg('tg', 'telegram', { chat_id: 42, api_url: stub.url, bot_token_env: 'TG_TOKEN' }), c);
  t.equal(tg.botUsername?.(), undefined, 'not known before the first poll');
  const edited = stub.pushUpdate('edited_message', { from: 7, chat: 42, text: '/stop' });
  stub.pushUpdate('channel_post', { from: 7, chat: 42, text: '/stop' });
  const plain = stub.push({ from: 7, chat: 42, text: '/status@agent_runner_bot' });
  const r1 = await tg.poll!(undefined, new AbortController().signal);
  t.same(
    r1.messages.map((m) => [m.platformMessageId, m.text]),
    [[String(plain), '/status@agent_runner_bot']],
    'only the message update',
  );
  t.equal(r1.cursor, String(plain + 1), 'the cursor moves past the skipped updates (they are confirmed, never returned again)');
  t.ok(edited < plain);
  t.equal(tg.botUsername?.(), TELEGRAM_STUB_BOT);
  const paths = stub.requests.map((r) => r.url.replace(/^\/bot[^/]+/, ''));
  t.same(paths, ['/getMe', '/getUpdates'], 'getMe first');
  t.same((stub.requests[1]?.json as { allowed_updates: string[] }).allowed_updates, ['message'], 'edited_message is not asked for');
  stub.push({ from: 7, chat: 42, text: '/help' });
  await tg.poll!(r1.cursor, new AbortController().signal);
  t.equal(stub.requests.filter((r) => r.url.endsWith('/getMe')).length, 1, 'asked once');

  // A failing getMe fails the poll before any update is fetched (and so confirmed): the
  // inbound loop retries, and nothing is judged without the name.
  const tg2 = telegramTransport(notifyCfg('tg', 'telegram', { chat_id: 42, api_url: stub.url, bot_token_env: 'TG_TOKEN' }), c);
  stub.fail('/getMe', { status: 502, body: 'bad gateway' });
  const before = stub.requests.length;
  const e = await rejection(tg2.poll!(undefined, new AbortController().signal));
  t.match(e.message, /telegram getMe: HTTP 502/);
  t.equal(e.retryable, true);
  t.same(
    stub.requests.slice(before).map((r) => r.url.replace(/^\/bot[^/]+/, '')),
    ['/getMe'],
    'no getUpdates without the name',
  );
  t.equal(tg2.botUsername?.(), undefined);

  // getMe without a username: unknown, so addressed commands are not ours (see addressedToUs).
  const anon = await telegramStub(TOKEN, { username: null });
  t.teardown(() => anon.close());
  const tg3 = telegramTransport(notifyCfg('tg', 'telegram', { chat_id: 42, api_url: anon.url, bot_token_env: 'TG_TOKEN' }), c);
  anon.push({ from: 7, chat: 42, text: '/help' });
  await tg3.poll!(undefined, new AbortController().signal);
  t.equal(tg3.botUsername?.(), undefined);
});
