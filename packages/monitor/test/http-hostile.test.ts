/**
 * The monitor's HTTP server against hostile and careless clients: malformed request targets
 * and headers never end it (a 4xx, never a 500 or a crash), a page reached under a foreign
 * `Host` (DNS rebinding) is refused, a token-protected page asks for the token, every answer
 * carries the security headers, and what it serves is redacted.
 */
import t, { type Test } from 'tap';
import { connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { serveHttp, type HttpProvider } from '../src/http.js';
import type { PageState } from '../src/page.js';

const ANTHROPIC = `sk-ant-api03-${'Ab3dE'.repeat(18)}`;
const GITHUB = `ghp_${'x1Y2z3'.repeat(6)}`;
const SLACK = 'https://hooks.slack.com/services/T0AAAAAAA/B0BBBBBBB/abcdefghijklmnopqrstuvwx';

function state(): PageState {
  return {
    host: 'local',
    generated_at: '2026-12-03T00:00:00.000Z',
    snapshot: null,
    narrative: [`export GITHUB_TOKEN=${GITHUB}`],
    narrative_file: '/p/NARRATIVE.md',
    recent_events: [],
    log_tail: [`the agent printed ANTHROPIC_API_KEY=${ANTHROPIC}`, `posting to ${SLACK}`],
    log_file: '/p/current.log',
    findings: [],
    link: 'up',
    last_error: null,
  } as unknown as PageState;
}

const provider: HttpProvider = {
  states: () => [state()],
  metrics: () => ({
    prometheus: 'agent_runner_up{host="local",project="p"} 1\n',
    openmetrics: 'agent_runner_up{host="local",project="p"} 1\n# EOF\n',
  }),
};

async function listen(t: Test, opts: { token?: string } = {}): Promise<{ server: Server; base: string; port: number }> {
  const server = await serveHttp({ port: 0, ...opts }, provider);
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  const port = (server.address() as AddressInfo).port;
  return { server, port, base: `http://127.0.0.1:${port}` };
}

/** Sends raw bytes, returns the status code of the answer (0: the connection closed without one). */
function raw(port: number, bytes: string | Buffer): Promise<number> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    let got = '';
    s.setTimeout(5000, () => s.destroy());
    s.on('data', (d) => (got += d.toString('latin1')));
    s.on('error', () => undefined);
    s.on('close', () => resolve(Number(/^HTTP\/1\.[01] (\d{3})/.exec(got)?.[1] ?? 0)));
    s.end(bytes);
  });
}

t.test('malformed request lines, targets, headers and methods: 4xx answers, never a 500, the server lives', async (t) => {
  const { port, base } = await listen(t);
  const targets = [
    '//[',
    '//a:b',
    '//x:99999/',
    'http://[',
    '//%',
    '/%',
    '/%zz',
    '*',
    'x',
    '',
    '/\u0000',
    '//',
    '///',
    '/?%',
    'http://h:99999/',
    'ftp://x/',
    '/' + 'a'.repeat(20_000),
    '/../../etc/passwd',
    '/api/state?x=%',
    '#frag',
  ];
  const methods = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'TRACE', 'CONNECT', 'PATCH', 'BREW', 'G E T', ''];
  const hosts = [
    'Host: 127.0.0.1',
    'Host: attacker.example',
    'Host: [::1',
    'Host: ',
    'Host: a:b:c',
    'Host: localhost:99999999',
    'Host: \u00ff',
  ];
  // A seeded generator keeps any failure reproducible.
  let seed = 20261203;
  const rnd = (n: number): number => (seed = (seed * 1103515245 + 12345) >>> 0) % n;
  const cases: Buffer[] = [];
  for (const m of methods)
    for (const u of targets)
      cases.push(Buffer.from(`${m} ${u} HTTP/1.1\r\n${hosts[rnd(hosts.length)]}\r\nConnection: close\r\n\r\n`, 'latin1'));
  for (let i = 0; i < 60; i++) {
    const junk = Buffer.alloc(1 + rnd(300));
    for (let j = 0; j < junk.length; j++) junk[j] = rnd(256);
    cases.push(rnd(2) ? junk : Buffer.concat([Buffer.from('GET / HTTP/1.1\r\nHost: localhost\r\n'), junk, Buffer.from('\r\n\r\n')]));
  }
  cases.push(Buffer.from(`GET / HTTP/1.1\r\nHost: localhost\r\nX-Big: ${'y'.repeat(100_000)}\r\n\r\n`));
  cases.push(Buffer.from('GET / HTTP/9.9\r\nHost: localhost\r\n\r\n'));
  cases.push(Buffer.from('GET / HTTP/1.1\r\nHost: localhost\r\nContent-Length: -1\r\n\r\n'));
  cases.push(Buffer.from('GET / HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n'));
  t.ok(cases.length >= 200, `${cases.length} malformed requests`);
  const statuses = new Map<number, number>();
  for (let i = 0; i < cases.length; i += 16) {
    for (const code of await Promise.all(cases.slice(i, i + 16).map((c) => raw(port, c))))
      statuses.set(code, (statuses.get(code) ?? 0) + 1);
  }
  t.notOk(statuses.has(500), `no internal errors (answers: ${JSON.stringify([...statuses])})`);
  t.ok(
    [...statuses.keys()].every((s) => s === 0 || (s >= 200 && s < 500)),
    'every answer is a 2xx-4xx or a closed connection',
  );
  t.equal(await raw(port, 'GET //[ HTTP/1.1\r\nHost: x\r\n\r\n'), 421, 'the request of the report: a foreign Host, refused and answered');
  t.equal(await raw(port, 'GET //[ HTTP/1.1\r\nHost: localhost\r\n\r\n'), 404, '//[ is a path like any other');
  t.equal(await raw(port, 'GET http://[ HTTP/1.1\r\nHost: localhost\r\n\r\n'), 400);
  t.equal((await fetch(`${base}/api/state`)).status, 200, 'still serving');
});

t.test('Host must name loopback (any port, for ssh -L); a rebinding name is refused', async (t) => {
  const { port } = await listen(t);
  for (const h of ['127.0.0.1', `127.0.0.1:${port}`, 'localhost:9000', 'LOCALHOST', 'pi.localhost:8765', '[::1]:8765', '127.8.9.10']) {
    t.equal(await raw(port, `GET / HTTP/1.1\r\nHost: ${h}\r\nConnection: close\r\n\r\n`), 200, h);
  }
  for (const h of ['attacker.example', 'attacker.example:8765', '127.0.0.1.nip.io', 'localhost.attacker.example', '10.0.0.5', '[::2]']) {
    t.equal(await raw(port, `GET /api/state HTTP/1.1\r\nHost: ${h}\r\nConnection: close\r\n\r\n`), 421, h);
  }
});

t.test('security headers on every answer; nothing served holds a secret', async (t) => {
  const { base } = await listen(t);
  for (const path of ['/', '/api/state', '/metrics', '/nope']) {
    const r = await fetch(`${base}${path}`);
    t.match(r.headers.get('content-security-policy'), /default-src 'none'.*frame-ancestors 'none'/, `${path}: CSP`);
    t.equal(r.headers.get('x-content-type-options'), 'nosniff', `${path}: nosniff`);
    t.equal(r.headers.get('x-frame-options'), 'DENY', `${path}: frame deny`);
    t.equal(r.headers.get('cache-control'), 'no-store', `${path}: no-store`);
    const body = await r.text();
    for (const secret of [ANTHROPIC, GITHUB, SLACK, 'abcdefghijklmnopqrstuvwx'])
      t.notOk(body.includes(secret), `${path}: no ${secret.slice(0, 12)}…`);
  }
  const api = (await (await fetch(`${base}/api/state`)).json()) as { hosts: PageState[] };
  t.match(api.hosts[0]?.log_tail.join('\n'), /ANTHROPIC_API_KEY=\[redacted\]/, 'the line stays, its secret does not');
  t.equal((await fetch(`${base}/`, { method: 'POST' })).status, 405);
});

t.test('with a token: Bearer or Basic (browsers), else 401 asking for it; Host is then not the guard', async (t) => {
  const token = 'correct horse battery staple';
  const { base, port } = await listen(t, { token });
  const none = await fetch(`${base}/api/state`);
  t.equal(none.status, 401);
  t.match(none.headers.get('www-authenticate'), /^Basic realm="agent-runner monitor"/);
  t.notOk((await none.text()).includes('redacted'), 'no state without the token');
  t.equal((await fetch(`${base}/api/state`, { headers: { authorization: 'Bearer wrong' } })).status, 401);
  t.equal((await fetch(`${base}/api/state`, { headers: { authorization: `Bearer ${token}x` } })).status, 401);
  t.equal(
    (await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${token}` } })).status,
    200,
    'Bearer (Prometheus bearer_token_file)',
  );
  const basic = Buffer.from(`operator:${token}`).toString('base64');
  t.equal((await fetch(`${base}/`, { headers: { authorization: `Basic ${basic}` } })).status, 200, 'Basic with the token as password');
  t.equal(
    await raw(port, `GET / HTTP/1.1\r\nHost: pi.lan:8765\r\nAuthorization: Bearer ${token}\r\nConnection: close\r\n\r\n`),
    200,
    'a LAN name with the token',
  );
  t.equal(
    await raw(port, `GET / HTTP/1.1\r\nHost: localhost\r\nAuthorization: Basic !!!\r\nConnection: close\r\n\r\n`),
    401,
    'undecodable Basic',
  );
});

t.test('an address that is not this machine is a clear usage error', async (t) => {
  await t.rejects(serveHttp({ port: 0, host: '192.0.2.1' }, provider), {
    code: 'ERR_AR_USAGE',
    message: /cannot listen on 192\.0\.2\.1:0: no such address on this machine/,
  });
});
