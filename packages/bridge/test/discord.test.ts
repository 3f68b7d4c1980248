import t from 'tap';
import { discordTransport, DISCORD_MAX_CHARS } from '../src/transports/discord.js';
import { ctx, msg, notifyCfg, rejection } from './helpers.js';
import { reply, startStub } from './stubs.js';

t.test('discord webhook', async (t) => {
  const got: string[] = [];
  const stub = await startStub((req, res) => {
    if (!req.url.startsWith('/api/webhooks/1/tok?wait=true')) return reply(res, 404, { message: 'Unknown Webhook', code: 10015 });
    const content = (req.json as { content?: string }).content ?? '';
    if (content.length > 2000) return reply(res, 400, { message: 'Invalid Form Body', code: 50035 });
    got.push(content);
    return reply(res, 200, { id: String(got.length), content });
  });
  const c = ctx({ DISCORD_WEBHOOK_URL: `${stub.url}/api/webhooks/1/tok` });
  t.teardown(async () => {
    await c.http.close();
    await stub.close();
  });
  const d = discordTransport(notifyCfg('dc', 'discord', { webhook_url_env: 'DISCORD_WEBHOOK_URL' }), c);
  await d.send(msg());
  t.equal(got.length, 1);
  t.same((stub.requests[0]?.json as { allowed_mentions: unknown }).allowed_mentions, { parse: [] }, 'no @everyone pings');
  await d.send(msg({ body: 'z '.repeat(3000) }));
  t.equal(got.length, 1 + 3);
  t.ok(got.every((g) => g.length <= DISCORD_MAX_CHARS));

  stub.fail('/api/webhooks', {
    status: 429,
    headers: { 'content-type': 'application/json', 'retry-after': '2' },
    body: JSON.stringify({ message: 'You are being rate limited.', retry_after: 0.35, global: false }),
  });
  let e = await rejection(d.send(msg()));
  t.equal(e.retryable, true);
  t.equal(e.retryAfterMs, 350, 'JSON retry_after (seconds, float) wins');
  stub.fail('/api/webhooks', { status: 429, headers: { 'retry-after': '2' }, body: '' });
  t.equal((await rejection(d.send(msg()))).retryAfterMs, 2000, 'header when no JSON');
  stub.fail('/api/webhooks', { status: 500, body: '' });
  t.equal((await rejection(d.send(msg()))).retryable, true);
  stub.fail('/api/webhooks', { status: 200, body: '{{' });
  t.equal((await rejection(d.send(msg()))).retryable, true);
  const gone = discordTransport(notifyCfg('dc', 'discord', { webhook_url_env: 'X' }), ctx({ X: `${stub.url}/api/webhooks/2/other` }));
  e = await rejection(gone.send(msg()));
  t.equal(e.retryable, false, '404 unknown webhook is permanent');
});
