import t from 'tap';
import { chmodSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tempProject, runCli } from '@agent-runner/testkit/project';
import { parseShow, showUnits } from '../src/systemd.js';
import { journalctlArgs } from '../src/commands/logs.js';

t.test('a failing systemctl show is ERR_AR_SYSTEMD (exit 69) quoting systemd, not an internal error', async (t) => {
  // What systemctl prints with no manager to talk to (a container, a user without lingering).
  const bin = mkdtempSync(join(tmpdir(), 'ar-systemctl-'));
  writeFileSync(join(bin, 'systemctl'), '#!/bin/sh\necho "Failed to connect to bus: No medium found" >&2\nexit 1\n');
  chmodSync(join(bin, 'systemctl'), 0o755);
  const env = { PATH: `${bin}:/usr/bin:/bin`, XDG_RUNTIME_DIR: bin };
  await t.rejects(showUnits('user', ['agent-runner@x.service'], env), {
    name: 'AgentRunnerError',
    code: 'ERR_AR_SYSTEMD',
    exitCode: 69,
    message: 'systemctl --user show failed: Failed to connect to bus: No medium found',
  });
});

t.test('parseShow reads systemctl show blocks', async (t) => {
  const text = [
    'Id=agent-runner@demo.service',
    'LoadState=loaded',
    'ActiveState=active',
    'SubState=running',
    'UnitFileState=static',
    'MainPID=42',
    'ExecMainStatus=0',
    'Result=success',
    'NRestarts=2',
    'ActiveEnterTimestamp=@1700000000',
    'InactiveEnterTimestamp=',
    'StateChangeTimestamp=@1700000000',
    '',
    'Id=agent-runner@demo.target',
    'ActiveState=inactive',
    'SubState=dead',
    'MainPID=0',
    'StateChangeTimestamp=',
    '',
  ].join('\n');
  const [a, b] = parseShow(text);
  t.same(a, {
    unit: 'agent-runner@demo.service',
    load_state: 'loaded',
    active_state: 'active',
    sub_state: 'running',
    unit_file_state: 'static',
    main_pid: 42,
    exec_main_status: 0,
    result: 'success',
    n_restarts: 2,
    since: '2023-11-14T22:13:20.000Z',
  });
  t.equal(b?.active_state, 'inactive');
  t.equal(b?.since, null);
});

t.test('journalctlArgs maps the options for each mode', async (t) => {
  t.same(journalctlArgs('user', ['a.service', 'b.service'], { follow: true, lines: 5, priority: 'warning' }), [
    '--user',
    '-u',
    'a.service',
    '-u',
    'b.service',
    '--no-pager',
    '--follow',
    '--lines',
    '5',
    '--priority',
    'warning',
  ]);
  t.same(journalctlArgs('system', ['a.service'], { since: '1 hour ago', output: 'json' }), [
    '-u',
    'a.service',
    '--no-pager',
    '--since',
    '1 hour ago',
    '--output',
    'json',
  ]);
});

const AGENT = `setTimeout(() => { console.log('RESULT: ok'); }, Number(process.env.AR_T_SLEEP_MS ?? 300));\n`;
const CONFIG = `project = "fgdemo"
[agent]
preset = "generic"
command = ["node", "agent.mjs"]
prompt_delivery = "stdin"
terminal = "pipe"
[agent.patterns]
result = ["^RESULT: "]
[prompt]
file = "PROMPT.md"
[runtime]
restart_delay_s = 0.2
round_timeout_s = 30
`;

t.test('foreground mode (no units): start, status --json, stop, logs says there is no journal', async (t) => {
  const p = tempProject('fgdemo', { 'agent-runner.toml': CONFIG, 'PROMPT.md': 'work\n', 'agent.mjs': AGENT, '.gitignore': '' });
  t.teardown(p.cleanup);
  const started = await runCli(['start'], { cwd: p.dir, env: p.env });
  t.equal(started.code, 0, started.stderr);
  t.match(started.stderr, /started serve in the background \(pid \d+; output in .*serve\.out; no systemd units installed\)/);
  const again = await runCli(['start'], { cwd: p.dir, env: p.env });
  t.match(again.stderr, /already running/);
  const st = await runCli(['status', '--json'], { cwd: p.dir, env: p.env });
  t.equal(st.code, 0, st.stdout + st.stderr);
  const rep = JSON.parse(st.stdout) as { manager: string; running: boolean; runner: { pid: number } | null; units: unknown[] };
  t.equal(rep.manager, 'foreground');
  t.equal(rep.running, true);
  t.ok(rep.runner?.pid);
  t.same(rep.units, []);
  const argv = readFileSync(`/proc/${rep.runner?.pid}/cmdline`, 'utf8').split('\0');
  t.same(argv.slice(1, 3), ['--optimize-for-size', '--expose-gc'], 'serve runs with the node options of its unit');
  const logs = await runCli(['logs'], { cwd: p.dir, env: p.env });
  t.equal(logs.code, 64);
  t.match(logs.stderr, /ERR_AR_NOT_INSTALLED/);
  const stop = await runCli(['stop'], { cwd: p.dir, env: p.env });
  t.equal(stop.code, 0, stop.stderr);
  t.match(stop.stderr, /^agent-runner: stopping service\.\.\.\nagent-runner: stopped \(\d+\.\ds\)\n$/);
  const st2 = await runCli(['status'], { cwd: p.dir, env: p.env });
  t.equal(st2.code, 3, 'exit 3: not running');
  t.match(st2.stdout, /serve not running/);
  t.ok(existsSync(join(p.home, '.local/state/agent-runner/fgdemo/logs/serve.out')));
});
