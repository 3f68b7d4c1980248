import { createHmac } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { cutBytes, ntfyTransport } from '../src/transports/ntfy.js';
import { SIGNATURE_HEADER, webhookTransport } from '../src/transports/webhook.js';
import { ctx, msg, notifyCfg, rejection, tmp } from './helpers.js';
import { reply, startStub } from './stubs.js';

t.test('ntfy publish: body, Title/Priority/Tags headers, auth, 4 KiB cut', async (t) => {
  const stub = await startStub((req, res) => {
    if (req.url !== '/agent-alerts') return reply(res, 404, { code: 40401, http: 404, error: 'page not found' });
    return reply(res, 200, { id: 'abc', time: 1, event: 'message', topic: 'agent-alerts', message: req.body });
  });
  const c = ctx({ NTFY_TOKEN: 'tk_secret' });
  t.teardown(async () => {
    await c.http.close();
    await stub.close();
  });
  const n = ntfyTransport(notifyCfg('nt', 'ntfy', { server: stub.url, topic: 'agent-alerts', token_env: 'NTFY_TOKEN' }), c);
  await n.send(msg({ severity: 'critical', title: 'Runner crash loop — stopped' }));
  const r = stub.requests[0];
  t.equal(r?.body, 'resets at 14:00');
  t.equal(r?.headers['priority'], '5');
  t.equal(r?.headers['tags'], 'rotating_light,round_end', 'severity emoji, then the kind');
  t.equal(r?.headers['authorization'], 'Bearer tk_secret');
  t.match(String(r?.headers['title']), /^=\?UTF-8\?B\?/, 'non-ASCII title as an RFC 2047 word');
  t.equal(
    Buffer.from(String(r?.headers['title']).slice(10, -2), 'base64').toString(),
    'Runner crash loop — stopped',
    'the title as is, no severity tag',
  );
  await n.send(msg({ body: 'é'.repeat(5000) }));
  t.ok(Buffer.byteLength(stub.requests[1]?.body ?? '') <= 4096);
  t.match(stub.requests[1]?.body, /truncated; full text/);
  t.equal(cutBytes('abc', 10, '…'), 'abc');
  stub.fail('/agent-alerts', { status: 429, headers: { 'retry-after': '60' }, body: '{"code":42901,"http":429,"error":"limit reached"}' });
  const e = await rejection(n.send(msg()));
  t.equal(e.retryAfterMs, 60_000);
});

t.test('webhook: JSON body signed with HMAC-SHA256; secret from a credentials file', async (t) => {
  const stub = await startStub((req, res) => reply(res, req.url === '/hook' ? 204 : 404, ''));
  const d = tmp();
  writeFileSync(join(d.dir, 'hook-secret'), 's3cret-value\n');
  const c = ctx({ CREDENTIALS_DIRECTORY: d.dir });
  t.teardown(async () => {
    await c.http.close();
    await stub.close();
    d.cleanup();
  });
  const w = webhookTransport(
    notifyCfg('wh', 'webhook', { url: `${stub.url}/hook`, secret_file: '/etc/agent-runner/${CREDENTIALS_DIRECTORY}/hook-secret' }),
    c,
  );
  await w.send(msg({ key: 'heal:runner:T1:abc' }));
  const r = stub.requests[0];
  const body = JSON.parse(r?.body ?? '{}') as Record<string, unknown>;
  t.equal(body['id'], 'heal:runner:T1:abc');
  t.equal(body['kind'], 'round_end');
  t.same(body['payload'], { round: 7 });
  t.equal(r?.headers['idempotency-key'], 'heal:runner:T1:abc');
  const expected = `sha256=${createHmac('sha256', 's3cret-value')
    .update(r?.body ?? '')
    .digest('hex')}`;
  t.equal(r?.headers[SIGNATURE_HEADER], expected, 'receiver can verify the raw body');
  stub.fail('/hook', { status: 500, body: 'oops' });
  t.equal((await rejection(w.send(msg()))).retryable, true);
  stub.fail('/hook', { status: 410, body: 'gone' });
  t.equal((await rejection(w.send(msg()))).retryable, false);
  const noCred = webhookTransport(
    notifyCfg('wh', 'webhook', { url: `${stub.url}/hook`, secret_file: '${CREDENTIALS_DIRECTORY}/hook-secret' }),
    ctx({}),
  );
  t.match((await rejection(noCred.send(msg()))).message, /CREDENTIALS_DIRECTORY is not set/);
});
