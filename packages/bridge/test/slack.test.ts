import t from 'tap';
import { slackTransport, SLACK_MAX_CHARS, tsAfter } from '../src/transports/slack.js';
import { ctx, msg, notifyCfg, rejection } from './helpers.js';
import { reply, startStub } from './stubs.js';

t.test('slack incoming webhook and chat.postMessage', async (t) => {
  const posted: Array<{ path: string; auth?: string | undefined; text: string; channel?: unknown }> = [];
  const stub = await startStub((req, res) => {
    const body = req.json as { text?: string; channel?: string };
    if (req.url === '/services/T000/B000/XXXX') {
      if (!body?.text) return reply(res, 400, 'invalid_payload');
      posted.push({ path: req.url, text: body.text });
      return reply(res, 200, 'ok');
    }
    if (req.url === '/api/chat.postMessage') {
      if (req.headers['authorization'] !== 'Bearer xoxb-test-token-123456') return reply(res, 200, { ok: false, error: 'invalid_auth' });
      if (body.channel !== 'C123') return reply(res, 200, { ok: false, error: 'channel_not_found' });
      posted.push({ path: req.url, auth: req.headers['authorization'], text: String(body.text), channel: body.channel });
      return reply(res, 200, { ok: true, channel: 'C123', ts: '1.2' });
    }
    return reply(res, 404, 'no_service');
  });
  const env = { SLACK_WEBHOOK_URL: `${stub.url}/services/T000/B000/XXXX`, SLACK_BOT: 'xoxb-test-token-123456' };
  const c = ctx(env);
  t.teardown(async () => {
    await c.http.close();
    await stub.close();
  });

  const hook = slackTransport(notifyCfg('sl', 'slack', { webhook_url_env: 'SLACK_WEBHOOK_URL' }), c);
  await hook.send(msg());
  t.equal(posted.length, 1);
  t.match(posted[0]?.text, /Round 7 rate limited/);
  await hook.send(msg({ body: 'y'.repeat(9000) }));
  t.equal(posted.length, 4, 'oversize text chunked');
  t.ok(posted.slice(1).every((p) => p.text.length <= SLACK_MAX_CHARS));

  stub.fail('/services/', { status: 429, headers: { 'retry-after': '7' }, body: 'rate_limited' });
  let e = await rejection(hook.send(msg()));
  t.equal(e.retryable, true);
  t.equal(e.retryAfterMs, 7000);
  stub.fail('/services/', { status: 503, body: '' });
  t.equal((await rejection(hook.send(msg()))).retryable, true);
  stub.fail('/services/', { status: 404, body: 'no_service' });
  e = await rejection(hook.send(msg()));
  t.equal(e.retryable, false);
  t.notMatch(e.message, /services\/T000/, 'the webhook URL (a secret) is not in the error');

  const api = slackTransport(notifyCfg('sl2', 'slack', { bot_token_env: 'SLACK_BOT', channel: 'C123', api_url: `${stub.url}/api` }), c);
  posted.length = 0;
  await api.send(msg());
  t.same(
    posted.map((p) => [p.path, p.channel]),
    [['/api/chat.postMessage', 'C123']],
  );
  const wrong = slackTransport(notifyCfg('sl3', 'slack', { bot_token_env: 'SLACK_BOT', channel: 'C999', api_url: `${stub.url}/api` }), c);
  e = await rejection(wrong.send(msg()));
  t.equal(e.retryable, false);
  t.match(e.message, /channel_not_found/);
  stub.fail('/api/chat.postMessage', {
    status: 200,
    headers: { 'content-type': 'application/json' },
    body: '{"ok":false,"error":"ratelimited"}',
  });
  t.equal((await rejection(api.send(msg()))).retryable, true);
  stub.fail('/api/chat.postMessage', { status: 200, body: 'not json' });
  t.match((await rejection(api.send(msg()))).message, /malformed JSON/);
});

t.test('slack commands: conversations.history polling', async (t) => {
  const history = [{ ts: '1700000000.000100', user: 'U1', text: '/status' }];
  const stub = await startStub((req, res) => {
    const q = new URL(req.url, 'http://x').searchParams;
    if (!req.url.startsWith('/api/conversations.history') || q.get('channel') !== 'C123')
      return reply(res, 200, { ok: false, error: 'channel_not_found' });
    const oldest = q.get('oldest');
    const msgs = history.filter((m) => oldest === null || tsAfter(m.ts, oldest)).reverse();
    return reply(res, 200, { ok: true, messages: oldest === null ? msgs.slice(0, 1) : msgs });
  });
  const c = ctx({ SLACK_BOT: 'xoxb-1' });
  t.teardown(async () => {
    await c.http.close();
    await stub.close();
  });
  const api = slackTransport(
    notifyCfg('sl', 'slack', { bot_token_env: 'SLACK_BOT', channel: 'C123', api_url: `${stub.url}/api`, allowed_user_ids: ['U1'] }),
    c,
  );
  const first = await api.poll!(undefined, new AbortController().signal);
  t.equal(first.initial, true);
  t.equal(first.cursor, '1700000000.000100', 'history only sets the position');
  history.push({ ts: '1700000000.000200', user: 'U1', text: '/pause 1h' }, { ts: '1700000001.000000', user: 'U2', text: '/stop' });
  const ac = new AbortController();
  const second = await api.poll!(first.cursor, ac.signal);
  t.same(
    second.messages.map((m) => [m.platformMessageId, m.sender, m.chat, m.text]),
    [
      ['1700000000.000200', 'U1', 'C123', '/pause 1h'],
      ['1700000001.000000', 'U2', 'C123', '/stop'],
    ],
  );
  t.equal(second.cursor, '1700000001.000000');
  t.ok(tsAfter('1700000000.000201', '1700000000.0002'));
  t.notOk(tsAfter('1700000000.000200', '1700000000.000200'));
  const hook = slackTransport(notifyCfg('sl', 'slack', { webhook_url_env: 'SLACK_WEBHOOK_URL' }), c);
  t.equal(hook.poll, undefined, 'webhook mode takes no commands');
});
