// The webhook and ntfy receivers: what they record, their 500 and refusing windows (the port
// is closed, then the same port serves again).
import t from 'tap';
import { startReceiver } from '../src/receivers.js';

const post = (url: string, body: string, headers: Record<string, string>): Promise<number> =>
  fetch(url, { method: 'POST', body, headers }).then((r) => r.status);

t.test('webhook: records fields and keys, flags a redelivery, misbehaves on demand', async (t) => {
  const r = await startReceiver('webhook');
  t.teardown(() => r.close());
  const msg = JSON.stringify({
    v: 1,
    id: 'alarm:1:raised:hook',
    kind: 'auth_paused',
    severity: 'critical',
    title: 'p@h: login rejected',
    body: 'b',
    payload: { phase: 'alarm' },
  });
  const h = { 'content-type': 'application/json', 'idempotency-key': 'alarm:1:raised:hook' };
  t.equal(await post(`${r.url}/hook/p`, msg, h), 200);
  t.equal(await post(`${r.url}/hook/p`, msg, h), 200);
  await r.setMode('error');
  t.equal(await post(`${r.url}/hook/p`, msg, h), 500);
  await r.setMode('refuse');
  await t.rejects(post(`${r.url}/hook/p`, msg, h), 'connection refused while refusing');
  await r.setMode('ok');
  t.equal(await post(`${r.url}/hook/p`, msg, h), 200, 'the same port serves again');
  t.same(
    r.deliveries.map((d) => [d.status, d.redelivery]),
    [
      [200, false],
      [200, true],
      [500, false],
      [200, true],
    ],
  );
  t.same(
    { ...r.deliveries[0], atMs: 0 },
    {
      atMs: 0,
      path: '/hook/p',
      key: 'alarm:1:raised:hook',
      status: 200,
      title: 'p@h: login rejected',
      body: 'b',
      priority: 'critical',
      kind: 'auth_paused',
      payload: { phase: 'alarm' },
      redelivery: false,
    },
  );
});

t.test('ntfy: title (RFC 2047 too), priority and tags from the headers, the body as message', async (t) => {
  const r = await startReceiver('ntfy');
  t.teardown(() => r.close());
  const res = await fetch(`${r.url}/soak-alarms`, {
    method: 'POST',
    body: 'rounds paused',
    headers: { title: `=?UTF-8?B?${Buffer.from('p@h: ünïcode').toString('base64')}?=`, priority: '5', tags: 'rotating_light' },
  });
  t.equal(res.status, 200);
  const j = (await res.json()) as { event: string; topic: string; priority: number };
  t.same([j.event, j.topic, j.priority], ['message', 'soak-alarms', 5]);
  t.same(
    [r.deliveries[0]?.title, r.deliveries[0]?.body, r.deliveries[0]?.priority, r.deliveries[0]?.kind],
    ['p@h: ünïcode', 'rounds paused', '5', 'rotating_light'],
  );
});
