/**
 * The hook executor against real processes: the stdin document, the answer each event allows,
 * a timeout that kills the whole group (grandchildren too), crashes, garbage and floods on
 * stdout, a command that does not exist, the environment without secrets, and the events.
 */
import t from 'tap';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { HookConfig } from '../src/config/types.js';
import { EventWriter } from '../src/events/writer.js';
import { lastEvents } from '../src/events/reader.js';
import { hookEnv, parseHookAnswer, runHook, type HookInput } from '../src/hooks.js';

const dir = mkdtempSync(join(tmpdir(), 'ar-hooks-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const kill = (pid: number, sig: NodeJS.Signals): void => void process.kill(pid, sig);

function script(name: string, body: string): string {
  const p = join(dir, name);
  writeFileSync(p, `#!/bin/sh\n${body}\n`);
  chmodSync(p, 0o755);
  return p;
}
/** Alive and not a zombie (an orphan waits for init, or whatever reaps here, to collect it). */
function running(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}
const hook = (command: string[], over: Partial<HookConfig> = {}): HookConfig => ({
  name: 'h',
  on: 'pre_round',
  command,
  timeout_s: 5,
  on_failure: 'skip_round',
  enabled: true,
  pass_env: [],
  ...over,
});
const input = (over: Partial<HookInput> = {}): HookInput => ({
  version: 1,
  event: 'pre_round',
  hook: 'h',
  project: 'p',
  host: 'x',
  work_dir: dir,
  config_file: join(dir, 'agent-runner.toml'),
  round: 3,
  phase: null,
  previous_round: null,
  context: {},
  prompt: 'Do it.',
  ...over,
});
const run = (h: HookConfig, i = input(), env: Record<string, string> = { PATH: process.env['PATH'] ?? '' }) =>
  runHook(h, i, { cwd: dir, env, kill });

t.test('reads the document on stdin, answers a new prompt and context', async (t) => {
  const h = hook([
    script(
      'echo-prompt.sh',
      `node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const i=JSON.parse(s);console.log(JSON.stringify({prompt:i.prompt+" And the TODO.",context:{round_seen:i.round,event:i.event}}))})'`,
    ),
  ]);
  const r = await run(h);
  t.match(r, { ok: true, answer: { prompt: 'Do it. And the TODO.', context: { round_seen: 3, event: 'pre_round' } } });
});

t.test('the answer must be what the event allows', async (t) => {
  t.same(parseHookAnswer('post_round', 'h', '  \n'), {}, 'empty stdout: the empty answer');
  t.match(parseHookAnswer('post_round', 'h', 'hello'), /hook h: stdout is not one JSON document/);
  t.match(parseHookAnswer('post_round', 'h', '[1]'), /must be a JSON object, got an array/);
  t.match(parseHookAnswer('post_round', 'h', '{"prompt":"x"}'), /a post_round hook may answer "context", not "prompt"/);
  t.match(parseHookAnswer('serve_start', 'h', '{"x":1}'), /may answer nothing/);
  t.match(parseHookAnswer('dirty_tree', 'h', '{"action":"push"}'), /"action" must be/);
  t.same(parseHookAnswer('dirty_tree', 'h', '{"action":"handled"}'), { action: 'handled' });
  t.match(parseHookAnswer('detector', 'h', '{"alerts":[{"title":""}]}'), /alerts\[0\]\.title/);
  t.match(parseHookAnswer('detector', 'h', '{"alerts":[{"title":"x","severity":"panic"}]}'), /alerts\[0\]\.severity/);
  t.same(parseHookAnswer('detector', 'h', '{"alerts":[{"title":" no commit in 5 rounds "}]}'), {
    alerts: [{ severity: 'warning', title: 'no commit in 5 rounds', body: '', key: 'no commit in 5 rounds' }],
  });
  t.match(parseHookAnswer('pre_round', 'h', '{"prompt":"  "}'), /"prompt" must be a non-empty string/);
  t.match(parseHookAnswer('post_round', 'h', JSON.stringify({ context: { log: 'x'.repeat(70_000) } })), /"context" is more than 64 KiB/);
});

t.test('failures are results, never throws: exit, signal, garbage, flood, missing command', async (t) => {
  t.match(await run(hook([script('fail.sh', 'echo "cannot reach tracker" >&2; exit 3')])), {
    ok: false,
    reason: 'exit',
    exitCode: 3,
    message: /hook h: exited 3: cannot reach tracker/,
    stderrTail: /cannot reach tracker/,
  });
  t.match(await run(hook([script('selfkill.sh', 'kill -9 $$')])), { ok: false, reason: 'signal', signal: 'SIGKILL' });
  t.match(await run(hook([script('garbage.sh', 'echo "fetching..."; echo "{}"')])), {
    ok: false,
    reason: 'bad_output',
    message: /not one JSON document/,
  });
  const flood = await run(hook([script('flood.sh', 'yes 0123456789abcdef')]));
  t.match(flood, { ok: false, reason: 'bad_output', message: /more than 1048576 bytes on stdout/ });
  t.match(await run(hook([join(dir, 'nope.sh')])), { ok: false, reason: 'spawn', message: /cannot run .*nope\.sh: ENOENT/, pid: null });
  t.match(await run(hook([script('leaky.sh', 'echo "token sk-ant-api03-AAAABBBBCCCCDDDDEEEEFFFFGGGGHHHH" >&2; exit 1')])), {
    ok: false,
    stderrTail: /\[redacted\]/,
    message: /\[redacted\]/,
  });
});

t.test('a hook that hangs is killed with its whole group at timeout_s', async (t) => {
  const pidFile = join(dir, 'grandchild.pid');
  const h = hook([script('hang.sh', `sleep 300 & echo $! > ${pidFile}; trap '' TERM; wait`)], { timeout_s: 1 });
  const start = Date.now();
  const r = await run(h);
  t.match(r, { ok: false, reason: 'timeout', message: /still running after 1 s; its process group was killed/ });
  t.ok(Date.now() - start < 6000, 'SIGKILL follows a SIGTERM it ignores');
  const grandchild = Number(readFileSync(pidFile, 'utf8'));
  t.notOk(running(grandchild), 'the background sleep went with it');
});

t.test('what the leader leaves running in its group is ended when it exits', async (t) => {
  const pidFile = join(dir, 'left.pid');
  const r = await run(hook([script('leave.sh', `sleep 300 > /dev/null 2>&1 & echo $! > ${pidFile}; echo '{}'`)]));
  t.match(r, { ok: true });
  await new Promise((res) => setTimeout(res, 100));
  t.notOk(running(Number(readFileSync(pidFile, 'utf8'))), 'the background sleep was killed');
});

t.test('environment: secret-named variables only when passed; the AGENT_RUNNER_ ones added', async (t) => {
  const h = hook(['/bin/true'], { pass_env: ['GITHUB_TOKEN'] });
  const env = hookEnv({ PATH: '/bin', HOME: '/h', ANTHROPIC_API_KEY: 'k', GITHUB_TOKEN: 'g', DB_PASSWORD: 'p', LANG: 'C' }, h, {
    project: 'p',
    round: null,
  });
  t.same(env, {
    PATH: '/bin',
    HOME: '/h',
    GITHUB_TOKEN: 'g',
    LANG: 'C',
    AGENT_RUNNER_HOOK: 'h',
    AGENT_RUNNER_HOOK_EVENT: 'pre_round',
    AGENT_RUNNER_PROJECT: 'p',
    AGENT_RUNNER_ROUND: '',
  });
});

t.test('evented: hook_started, then hook_finished or hook_failed with its action', async (t) => {
  const events = join(dir, 'events');
  const writer = new EventWriter({ dir: events, project: 'p', unit: 'runner' });
  const opts = { cwd: dir, env: { PATH: process.env['PATH'] ?? '' }, kill, events: writer, round: 7 };
  await runHook(
    hook([script('ok.sh', 'echo \'{"context":{"tests":"12 passed"}}\'')], { name: 'tests', on: 'post_round', on_failure: 'continue' }),
    input({ event: 'post_round' }),
    opts,
  );
  await runHook(hook([script('bad.sh', 'exit 2')], { name: 'bad' }), input(), opts);
  const got = lastEvents(events, { n: 10 }).events.map((e) => ({ ...(e as unknown as Record<string, unknown>) }));
  t.match(got, [
    { kind: 'hook_started', hook: 'tests', event: 'post_round', round: 7 },
    { kind: 'hook_finished', hook: 'tests', exit_code: 0, answered: 'context' },
    { kind: 'hook_started', hook: 'bad' },
    { kind: 'hook_failed', hook: 'bad', reason: 'exit', exit_code: 2, action: 'skip_round' },
  ]);
});
