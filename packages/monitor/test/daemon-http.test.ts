/**
 * `agent-runner monitor --mode http` as a real process (built CLI): the page, `/api/state`
 * and `/metrics` on 127.0.0.1 only, and the refusal of a port in use.
 */
import t from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { networkInterfaces } from 'node:os';
import { CLI_BIN } from '@agent-runner/testkit/project';
import { scenario, until, type ScenarioProject } from './fixtures/scenario.js';

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
  const p = scenario('echo "progress line from the agent"\necho RESULT ok', 'narrative_file = ".state/NARRATIVE.md"');
  t.teardown(p.cleanup);
  p.write('.state/NARRATIVE.md', '# Narrative\nStep one finished.\n');
  t.equal((await p.serve(['--max-rounds', '1'])).code, 0);
  const m = monitor(p, ['--mode', 'http', '--port', '0']);
  t.teardown(() => m.child.kill('SIGKILL'));
  await until(() => /serving http:\/\/127\.0\.0\.1:(\d+)\//.test(m.err()), 15_000);
  const port = Number(/127\.0\.0\.1:(\d+)\//.exec(m.err())?.[1]);
  const base = `http://127.0.0.1:${port}`;
  await until(() => true);
  let state: { hosts: Array<Record<string, unknown>> } = { hosts: [] };
  for (let i = 0; i < 50 && !state.hosts[0]?.['snapshot']; i++) {
    state = (await (await fetch(`${base}/api/state`)).json()) as typeof state;
    await new Promise((r) => setTimeout(r, 100));
  }
  t.match(state.hosts[0], { host: 'local', snapshot: { project: 'proj', rounds: [{ round: 1, classification: 'ok' }] } });
  t.match((state.hosts[0]?.['log_tail'] as string[]).join('\n'), /progress line from the agent/);
  t.same(state.hosts[0]?.['narrative'], ['# Narrative', 'Step one finished.']);
  const page = await (await fetch(`${base}/`)).text();
  t.match(page, /<meta http-equiv="refresh" content="5">/);
  for (const id of ['round-state', 'narrative', 'recent-events', 'round-log', 'flags']) t.match(page, new RegExp(`id="${id}"`), `section ${id}`);
  const metrics = await fetch(`${base}/metrics`);
  t.match(metrics.headers.get('content-type'), /text\/plain; version=0\.0\.4/);
  t.match(await metrics.text(), /agent_runner_up\{host="local",project="proj"\} 1/);
  // Another monitor on the same port: refused with a clear error (exit 64).
  const busy = monitor(p, ['--mode', 'http', '--port', String(port)]);
  t.equal(await busy.exited, 64);
  t.match(busy.err(), /the port is in use/);
  // Never on other interfaces: the host's own non-loopback address refuses the connection.
  const ext = Object.values(networkInterfaces()).flat().find((a) => a && a.family === 'IPv4' && !a.internal);
  if (ext) {
    const r = await fetch(`http://${ext.address}:${port}/`).then(() => 'answered', (e: Error & { cause?: { code?: string } }) => e.cause?.code ?? 'error');
    t.equal(r, 'ECONNREFUSED', `not reachable on ${ext.address}`);
  }
  m.child.kill('SIGTERM');
  t.equal(await m.exited, 0);
});
