import t from 'tap';
import { telegramTransport, TELEGRAM_MAX_CHARS } from '../src/transports/telegram.js';
import { ctx, msg, notifyCfg, rejection } from './helpers.js';
import { telegramStub } from './stubs.js';

const TOKEN = '123456:ABCdefGHIjklMNOpqrSTUvwxYZ0123456789';

t.test('telegram transport against a Bot API stub', async (t) => {
  const stub = await telegramStub(TOKEN);
  const c = ctx({ TG_TOKEN: TOKEN });
  t.teardown(async () => {
    await c.http.close();
    await stub.close();
  });
  const tg = telegramTransport(notifyCfg('tg', 'telegram', { chat_id: 42, api_url: stub.url, bot_token_env: 'TG_TOKEN', allowed_user_ids: [7] }), c);

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
  stub.fail('/sendMessage', { status: 429, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ok: false, error_code: 429, description: 'Too Many Requests: retry after 3', parameters: { retry_after: 3 } }) });
  let e = await rejection(tg.send(msg()));
  t.equal(e.retryable, true);
  t.equal(e.retryAfterMs, 3000);
  t.equal(e.status, 429);

  stub.fail('/sendMessage', { status: 502, body: '<html>Bad Gateway</html>' });
  e = await rejection(tg.send(msg()));
  t.equal(e.retryable, true, '5xx with an HTML body is retryable');
  t.match(e.message, /502/);

  stub.fail('/sendMessage', { status: 400, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ok: false, error_code: 400, description: 'Bad Request: chat not found' }) });
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

  const badToken = telegramTransport(notifyCfg('tg', 'telegram', { chat_id: 42, api_url: stub.url, bot_token_env: 'BAD' }), ctx({ BAD: '999:nope' }));
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
  t.same(r2.messages.map((m) => m.text), ['/stop']);
  const last = stub.requests.at(-1)?.json as { offset: number; timeout: number };
  t.equal(last.offset, id1 + 1);
  t.equal(last.timeout, 30);
  // Aborting ends a poll at once.
  const ac = new AbortController();
  setTimeout(() => ac.abort(), 100);
  const e = await rejection(tg.poll!(r2.cursor, ac.signal));
  t.match(e.message, /aborted/);
});
