/**
 * `agent-runner monitor --mode http` as a real process (built CLI): the page, `/api/state`
 * and `/metrics` (both formats) on 127.0.0.1 by default, the refusal of a port in use, and a page bound to
 * every interface that asks for its token and shows no secret the agent printed.
 */
import t from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { networkInterfaces } from 'node:os';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLI_BIN, runCli } from '@agent-runner/testkit/project';
import { until } from '@agent-runner/testkit/until';
import { scenario, type ScenarioProject } from './fixtures/scenario.js';

interface Mon {
  child: ChildProcess;
  out: () => string;
  err: () => string;
  exited: Promise<number | null>;
}

function monitor(p: ScenarioProject, args: string[]): Mon {
  const child = spawn(process.execPath, [CLI_BIN, 'monitor', ...args], { cwd: p.dir, env: p.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return { child, out: () => out, err: () => err, exited };
}

t.test('--mode http: page, /api/state and /metrics on 127.0.0.1; a busy port is refused', async (t) => {
  const toolCall = JSON.stringify({
    type: 'assistant',
    message: { content: [{ type: 'tool_use', name: 'Read', input: { file_path: 'src/a.ts' } }] },
  });
  const p = scenario(`echo "progress line from the agent"\necho '${toolCall}'\necho RESULT ok`, 'narrative_file = ".state/NARRATIVE.md"');
  t.teardown(p.cleanup);
  p.write('.state/NARRATIVE.md', '# Narrative\nStep one finished.\n');
  t.equal((await p.serve(['--max-rounds', '1'])).code, 0);
  const m = monitor(p, ['--mode', 'http', '--port', '0']);
  t.teardown(() => m.child.kill('SIGKILL'));
  await until(
    () => `the monitor to serve on 127.0.0.1 (stderr: ${m.err()})`,
    () => /serving http:\/\/127\.0\.0\.1:(\d+)\//.test(m.err()),
    15_000,
  );
  const port = Number(/127\.0\.0\.1:(\d+)\//.exec(m.err())?.[1]);
  const base = `http://127.0.0.1:${port}`;
  let state: { hosts: Array<Record<string, unknown>> } = { hosts: [] };
  for (let i = 0; i < 50 && !state.hosts[0]?.['snapshot']; i++) {
    state = (await (await fetch(`${base}/api/state`)).json()) as typeof state;
    await new Promise((r) => setTimeout(r, 100));
  }
  t.match(state.hosts[0], { host: 'local', snapshot: { project: 'proj', rounds: [{ round: 1, classification: 'ok' }] } });
  t.match(
    (state.hosts[0]?.['log_tail'] as string[]).join('\n'),
    /progress line from the agent\ntool: Read src\/a\.ts\n/,
    'plain lines as they are, events as a transcript',
  );
  t.same(state.hosts[0]?.['narrative'], ['# Narrative', 'Step one finished.']);
  const page = await (await fetch(`${base}/`)).text();
  t.match(page, /<meta http-equiv="refresh" content="5">/);
  for (const id of ['round-state', 'narrative', 'recent-events', 'round-log', 'flags'])
    t.match(page, new RegExp(`id="${id}"`), `section ${id}`);
  const metrics = await fetch(`${base}/metrics`);
  t.match(metrics.headers.get('content-type'), /text\/plain; version=0\.0\.4/);
  t.match(await metrics.text(), /agent_runner_up\{host="local",project="proj"\} 1/);
  const om = await fetch(`${base}/metrics`, {
    headers: { accept: 'application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5' },
  });
  t.equal(om.headers.get('content-type'), 'application/openmetrics-text; version=1.0.0; charset=utf-8', 'OpenMetrics when asked for');
  t.match(await om.text(), /^agent_runner_up\{host="local",project="proj"\} 1\n[^]*\n# EOF\n$/m);
  // Another monitor on the same port: refused with a clear error (exit 64).
  const busy = monitor(p, ['--mode', 'http', '--port', String(port)]);
  t.equal(await busy.exited, 64);
  t.match(busy.err(), /the port is in use/);
  // Never on other interfaces: the host's own non-loopback address refuses the connection.
  const ext = Object.values(networkInterfaces())
    .flat()
    .find((a) => a && a.family === 'IPv4' && !a.internal);
  if (ext) {
    const r = await fetch(`http://${ext.address}:${port}/`).then(
      () => 'answered',
      (e: Error & { cause?: { code?: string } }) => e.cause?.code ?? 'error',
    );
    t.equal(r, 'ECONNREFUSED', `not reachable on ${ext.address}`);
  }
  m.child.kill('SIGTERM');
  t.equal(await m.exited, 0);
});

t.test('http_bind off loopback: refused without a token; with one, every request needs it and no secret is shown', async (t) => {
  const key = `sk-ant-api03-${'Qw3rT'.repeat(18)}`;
  const gh = `ghp_${'a1B2c3'.repeat(6)}`;
  const p = scenario(
    `echo "debug: ANTHROPIC_API_KEY=${key}"\necho RESULT ok`,
    'narrative_file = ".state/NARRATIVE.md"',
    '[monitor]\nhttp_bind = "0.0.0.0"\n',
  );
  t.teardown(p.cleanup);
  const open = await runCli(['config', 'check'], { cwd: p.dir, env: p.env });
  t.equal(open.code, 78, 'an open page without a token is a config error');
  t.match(open.stderr, /monitor\.http_bind.*is not loopback/);
  const toml = join(p.dir, 'agent-runner.toml');
  // Outside the work tree, and the config change committed: the round stashes a dirty tree.
  writeFileSync(join(p.home, 'monitor.token'), 'tok-3f9a7c\n', { mode: 0o600 });
  p.write('agent-runner.toml', `${readFileSync(toml, 'utf8')}http_token_file = "${join(p.home, 'monitor.token')}"\n`);
  p.git('commit', '-qam', 'monitor token');
  p.write('.state/NARRATIVE.md', `# Narrative\nexport GITHUB_TOKEN=${gh}\n`);
  t.equal((await p.serve(['--max-rounds', '1'])).code, 0);
  const m = monitor(p, ['--mode', 'http', '--port', '0']);
  t.teardown(() => m.child.kill('SIGKILL'));
  await until(
    () => `the monitor to serve on 0.0.0.0 with a token (stderr: ${m.err()})`,
    () => /serving http:\/\/0\.0\.0\.0:(\d+)\/.*\(token required\)/.test(m.err()),
    15_000,
  );
  const base = `http://127.0.0.1:${Number(/0\.0\.0\.0:(\d+)\//.exec(m.err())?.[1])}`;
  t.equal((await fetch(`${base}/api/state`)).status, 401);
  const auth = { authorization: 'Bearer tok-3f9a7c' };
  let api = '';
  for (let i = 0; i < 50 && !api.includes('debug: ANTHROPIC_API_KEY'); i++) {
    api = await (await fetch(`${base}/api/state`, { headers: auth })).text();
    await new Promise((r) => setTimeout(r, 100));
  }
  const page = await (await fetch(`${base}/`, { headers: auth })).text();
  for (const [name, body] of [
    ['/api/state', api],
    ['/', page],
  ] as const) {
    t.match(body, /debug: ANTHROPIC_API_KEY=\[redacted\]/, `${name}: the agent's line is there`);
    t.notOk(body.includes(key) || body.includes(gh) || body.includes('tok-3f9a7c'), `${name}: no secret`);
  }
  m.child.kill('SIGTERM');
  t.equal(await m.exited, 0);
});
