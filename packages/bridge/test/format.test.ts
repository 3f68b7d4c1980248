// One message design across transports, each against a loopback server speaking the
// platform's documented API: the title as the producer wrote it, then the body; severity in
// the platform's own way; nothing that pings; recoveries threaded where the platform can.
import t from 'tap';
import { chunkText, renderText } from '../src/format.js';
import { discordTransport } from '../src/transports/discord.js';
import { ntfyTransport } from '../src/transports/ntfy.js';
import { escapeSlack, slackTransport } from '../src/transports/slack.js';
import { telegramTransport } from '../src/transports/telegram.js';
import { webhookTransport } from '../src/transports/webhook.js';
import { ctx, msg, notifyCfg } from './helpers.js';
import { reply, startStub, telegramStub } from './stubs.js';

const TITLE = 'app@pi: crash loop, rounds stopped';
const alarm = msg({
  key: 'alarm:3:raised:x',
  kind: 'crash_loop',
  severity: 'critical',
  title: TITLE,
  body: 'The agent failed 5 rounds in a row.\n\nFix the cause, then: agent-runner start',
  payload: { phase: 'alarm', cause: 'crash_loop' },
});

t.test('renderText: title as is, blank line, body; no severity tags', async (t) => {
  t.equal(renderText(alarm), `${TITLE}\n\nThe agent failed 5 rounds in a row.\n\nFix the cause, then: agent-runner start`);
  t.equal(renderText({ title: 'app@pi: resolved: rounds run again', body: '' }), 'app@pi: resolved: rounds run again');
  const pieces = chunkText('a'.repeat(5000), 2000, 3, 'full text: agent-runner events');
  t.same(
    pieces.map((p) => p.length),
    [2000, 2000, 1000],
  );
});

t.test('every chat transport shows the same text', async (t) => {
  const tg = await telegramStub('1:t');
  const chat = await startStub((req, res) => {
    if (req.url.startsWith('/discord')) return reply(res, 200, { id: '9001', content: (req.json as { content: string }).content });
    if (req.url === '/slack') return reply(res, 200, 'ok');
    return reply(res, 404, {});
  });
  const c = ctx({ TG: '1:t', DC: `${chat.url}/discord`, SL: `${chat.url}/slack` });
  t.teardown(async () => {
    await c.http.close();
    await tg.close();
    await chat.close();
  });
  await telegramTransport(notifyCfg('tg', 'telegram', { chat_id: 1, api_url: tg.url, bot_token_env: 'TG' }), c).send(alarm);
  const dc = await discordTransport(notifyCfg('dc', 'discord', { webhook_url_env: 'DC' }), c).send(alarm);
  await slackTransport(notifyCfg('sl', 'slack', { webhook_url_env: 'SL' }), c).send(alarm);
  const texts = [
    tg.sent[0]?.text,
    ...chat.requests.map((r) => (r.json as { content?: string; text?: string }).content ?? (r.json as { text?: string }).text),
  ];
  t.same(texts, [renderText(alarm), renderText(alarm), renderText(alarm)]);
  t.same(dc, { platformMessageId: '9001' }, 'discord message id from ?wait=true');
});

t.test('slack: nothing pings; a recovery goes into the alarm thread (Web API), plain over a webhook', async (t) => {
  const posts: Array<Record<string, unknown>> = [];
  let ts = 100;
  const stub = await startStub((req, res) => {
    posts.push(req.json as Record<string, unknown>);
    if (req.url === '/hook') return reply(res, 200, 'ok');
    return reply(res, 200, { ok: true, channel: 'C1', ts: `1700000000.000${ts++}` });
  });
  const c = ctx({ BOT: 'xoxb-1', HOOK: `${stub.url}/hook` });
  t.teardown(async () => {
    await c.http.close();
    await stub.close();
  });
  const api = slackTransport(notifyCfg('sl', 'slack', { bot_token_env: 'BOT', channel: 'C1', api_url: stub.url }), c);
  const sent = await api.send({ ...alarm, body: 'ping <!channel> and <!here|here>, @here, @channel, <@U123> & <https://x|x>' });
  t.same(sent, { platformMessageId: '1700000000.000100' });
  t.equal(
    posts[0]?.['text'],
    `${TITLE}\n\nping &lt;!channel&gt; and &lt;!here|here&gt;, @\u200bhere, @\u200bchannel, &lt;@U123&gt; &amp; &lt;https://x|x&gt;`,
  );
  t.equal(posts[0]?.['thread_ts'], undefined);
  await api.send(
    msg({ title: 'app@pi: resolved: rounds run again', body: '', replyTo: { key: alarm.key, platformMessageId: '1700000000.000100' } }),
  );
  t.equal(posts[1]?.['thread_ts'], '1700000000.000100', 'thread_ts = the alarm ts');
  const hook = slackTransport(notifyCfg('sh', 'slack', { webhook_url_env: 'HOOK' }), c);
  t.same(await hook.send(msg({ replyTo: { key: alarm.key, platformMessageId: null } })), {}, 'webhooks return no ts');
  t.same(Object.keys(posts[2] ?? {}), ['text'], 'incoming webhooks cannot thread: a plain message');
  t.equal(escapeSlack('@everyone'), '@\u200beveryone');
});

t.test('ntfy: Priority by severity, Tags, title as is', async (t) => {
  const stub = await startStub((req, res) => reply(res, 200, { id: 'x', event: 'message', topic: 'ops', message: req.body }));
  const c = ctx();
  t.teardown(async () => {
    await c.http.close();
    await stub.close();
  });
  const n = ntfyTransport(notifyCfg('nt', 'ntfy', { server: stub.url, topic: 'ops' }), c);
  for (const severity of ['critical', 'error', 'warning', 'info'] as const) await n.send(msg({ severity, title: 'app@pi: x' }));
  t.same(
    stub.requests.map((r) => r.headers['priority']),
    ['5', '4', '3', '2'],
  );
  t.same(
    stub.requests.map((r) => r.headers['tags']),
    ['rotating_light,round_end', 'x,round_end', 'warning,round_end', 'information_source,round_end'],
  );
  t.equal(stub.requests[0]?.headers['title'], 'app@pi: x');
  await n.send(msg({ severity: 'critical', kind: 'crash_loop', payload: { phase: 'recovery' } }));
  t.equal(stub.requests[4]?.headers['tags'], 'white_check_mark,crash_loop', 'a recovery is tagged as one');
});

t.test('webhook JSON carries kind, severity, title, body, payload; Idempotency-Key is the row key', async (t) => {
  const stub = await startStub((_req, res) => reply(res, 204, ''));
  const c = ctx();
  t.teardown(async () => {
    await c.http.close();
    await stub.close();
  });
  await webhookTransport(notifyCfg('wh', 'webhook', { url: `${stub.url}/h` }), c).send(alarm);
  const r = stub.requests[0];
  t.match(r?.json, {
    v: 1,
    id: alarm.key,
    kind: 'crash_loop',
    severity: 'critical',
    title: TITLE,
    body: alarm.body,
    payload: { phase: 'alarm', cause: 'crash_loop' },
  });
  t.equal(r?.headers['idempotency-key'], alarm.key);
});
