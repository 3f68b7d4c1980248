import t from 'tap';
import { spawn } from 'node:child_process';
import { Writable } from 'node:stream';
import { CLI_BIN, runCli, tempProject } from '@agent-runner/testkit/project';
import { buildParser } from '../src/cli.js';
import { docContext } from '../src/commands-doc.js';
import { FAST_VERBS, parseFast } from '../src/fast-path.js';
import { GLOBAL_OPTIONS } from '../src/options.js';

/** What yargs hands the verb for `argv` (the verb runs too, against a directory with no config). */
async function yargsArgs(argv: string[]): Promise<Record<string, unknown>> {
  const sink = new Writable({ write: (_c, _e, cb) => cb() });
  return (await buildParser({ ...docContext(), cwd: '/nonexistent', stdout: sink, stderr: sink }, () => {}).parseAsync(argv)) as Record<
    string,
    unknown
  >;
}

t.test('the fast path gives each verb what yargs gives it', async (t) => {
  const cases = [
    ['peek'],
    ['peek', '--json'],
    ['peek', '--json', '--select', 'service.state'],
    ['peek', '--round', '5', '--log', '--lines', '20'],
    ['peek', '--round=latest', '--lines=7', '-c', '/x/agent-runner.toml', '--system'],
    ['peek', '--config', '/x/agent-runner.toml', '--lines', 'abc'],
    ['events'],
    ['events', '--kind', 'round_end,round_start', '--since', '1h', '--json'],
    ['events', '-f', '--round', '3', '--limit', '10', '--config=/x.toml'],
    ['serve'],
    ['serve', '--max-rounds', '3', '--system'],
    ['serve', '--once', '--max-rounds=x'],
    ['round', '--phase', 'review', '-c', '/x.toml'],
    ['bridge'],
    ['watchdog', '--config', '/x.toml'],
    ['monitor'],
    ['monitor', '--mode', 'http', '--port', '0', '--json'],
    [
      'monitor',
      '--host',
      'pi',
      '--host',
      'nas',
      '--accept-new-host-key',
      '--remote-command',
      'agent-runner -c /p.toml',
      '--ssh-config',
      '/s',
      '--once',
    ],
    ['monitor', '--host=pi,nas', '--mode=events'],
  ];
  for (const argv of cases) {
    const fast = await parseFast(argv);
    if (!t.ok(fast, argv.join(' '))) continue;
    const yargs = await yargsArgs(argv);
    const keys = Object.keys({ ...GLOBAL_OPTIONS, ...(await FAST_VERBS[argv[0] as keyof typeof FAST_VERBS]()).options });
    const pick = (a: Record<string, unknown>) =>
      Object.fromEntries(keys.filter((k) => a[k] !== undefined).map((k) => [k, Number.isNaN(a[k]) ? 'NaN' : a[k]]));
    t.same(pick(fast!.args), pick(yargs), argv.join(' '));
  }
});

t.test('anything but a plain invocation of a fast verb goes to yargs', async (t) => {
  const declined = [
    [],
    ['peeks'],
    ['toString'],
    ['__proto__'],
    ['serve', '--help'],
    ['serve', '--once', '--once'],
    ['serve', '--bogus'],
    ['bridge', '--transport', 'x'],
    ['watchdog', 'now'],
    ['monitor', '--mode', 'bogus'],
    ['monitor', '--mode'],
    ['monitor', '--port', '1', '--port', '2'],
    ['peek', '--help'],
    ['peek', '-h'],
    ['peek', '--version'],
    ['peek', '--bogus'],
    ['peek', 'extra'],
    ['peek', '--no-json'],
    ['peek', '--json', '--json'],
    ['peek', '--select'],
    ['peek', '--json=false'],
    ['events', '--since', '-1h'],
  ];
  for (const argv of declined) t.equal(await parseFast(argv), undefined, JSON.stringify(argv));
});

/** Runs the built CLI in a node that refuses to load yargs, and the `refused` packages too. */
function runWithoutYargs(
  args: string[],
  cwd: string,
  env: Record<string, string>,
  refused: string[] = [],
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const hooks = `export async function resolve(s, c, n) { if (${JSON.stringify(['yargs', ...refused])}.includes(s)) throw new Error(s + ' was imported'); return n(s, c); }`;
  const preload = `import { register } from 'node:module'; register('data:text/javascript,' + encodeURIComponent(${JSON.stringify(hooks)}));`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', `data:text/javascript,${encodeURIComponent(preload)}`, CLI_BIN, ...args], {
      cwd,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

t.test('peek, events, round and monitor run without importing yargs; help and usage errors still come from it', async (t) => {
  const p = tempProject('fast', {
    'PROMPT.md': 'x',
    'agent-runner.toml': '[agent]\ncommand = ["sh", "-c", "echo done"]\n[prompt]\nfile = "PROMPT.md"\n',
  });
  t.teardown(p.cleanup);
  const peek = await runWithoutYargs(['peek', '--json'], p.dir, p.env);
  t.equal(peek.code, 0, peek.stderr);
  t.equal((JSON.parse(peek.stdout) as { project: string }).project, 'fast');
  const events = await runWithoutYargs(['events', '--json', '--since', '1h'], p.dir, p.env);
  t.equal(events.code, 0, events.stderr);
  const round = await runWithoutYargs(['round'], p.dir, p.env);
  t.equal(round.code, 0, round.stderr);
  // A local monitor has no use for SSH: ssh2 is loaded only to poll hosts.
  const monitor = await runWithoutYargs(['monitor', '--once', '--json'], p.dir, p.env, ['ssh2']);
  t.equal(monitor.code, 0, monitor.stderr);
  const bogus = await runWithoutYargs(['peek', '--bogus'], p.dir, p.env);
  t.not(bogus.code, 0);
  t.match(bogus.stderr, /yargs was imported/, "an unknown option is yargs' to report");
  const usage = await runCli(['peek', '--bogus'], { cwd: p.dir, env: p.env });
  t.equal(usage.code, 64);
  t.match(usage.stderr, /Unknown argument: bogus/);
  const help = await runCli(['peek', '--help'], { cwd: p.dir, env: p.env });
  t.equal(help.code, 0);
  t.match(help.stdout, /Snapshot: service state/);
});
