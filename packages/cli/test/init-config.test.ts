import t from 'tap';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { tempProject, runCli } from '@agent-runner/testkit/project';

t.test('init writes a valid config and prompt, refuses to overwrite, --force overwrites', async (t) => {
  const p = tempProject('demo');
  t.teardown(p.cleanup);
  const r = await runCli(['init', '--preset', 'claude'], { cwd: p.dir, env: p.env });
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /wrote .*agent-runner\.toml \(preset claude\)/);
  const toml = readFileSync(join(p.dir, 'agent-runner.toml'), 'utf8');
  t.match(toml, /preset = "claude"/);
  t.match(toml, /"--output-format", "stream-json"/, 'the claude preset asks for stream-json');
  t.ok(existsSync(join(p.dir, 'PROMPT.md')));

  const check = await runCli(['config', 'check', '--json'], { cwd: p.dir, env: p.env });
  t.equal(check.code, 0, check.stdout + check.stderr);
  const parsed = JSON.parse(check.stdout) as { ok: boolean; config: { project: string; runtime: { state_dir: string } } };
  t.equal(parsed.config.project, 'demo');
  t.equal(parsed.config.runtime.state_dir, join(p.home, '.local/state/agent-runner/demo'));

  const again = await runCli(['init'], { cwd: p.dir, env: p.env });
  t.equal(again.code, 73, 'refuses to overwrite (EX_CANTCREAT)');
  t.match(again.stderr, /already exists \[ERR_AR_FILE_EXISTS\]/);
  t.match(again.stderr, /hint: Pass --force/);

  const forced = await runCli(['init', '--preset', 'aider', '--force'], { cwd: p.dir, env: p.env });
  t.equal(forced.code, 0, forced.stderr);
  t.match(readFileSync(join(p.dir, 'agent-runner.toml'), 'utf8'), /preset = "aider"/);
});

t.test('init --state-dir inside the work tree git-ignores it, once', async (t) => {
  const p = tempProject('demo2', { '.gitignore': 'node_modules/' });
  t.teardown(p.cleanup);
  const r = await runCli(['init', '--state-dir', '.agent-runner', '--json'], { cwd: p.dir, env: p.env });
  t.equal(r.code, 0, r.stdout + r.stderr);
  t.same((JSON.parse(r.stdout) as { gitignored: string[] }).gitignored, ['/.agent-runner/']);
  const r2 = await runCli(['init', '--state-dir', '.agent-runner', '--force'], { cwd: p.dir, env: p.env });
  t.equal(r2.code, 0);
  t.equal(
    readFileSync(join(p.dir, '.gitignore'), 'utf8'),
    'node_modules/\n# agent-runner state and logs\n/.agent-runner/\n',
    'appended once',
  );
  t.equal(p.git('check-ignore', '.agent-runner/ledger.sqlite3').trim(), '.agent-runner/ledger.sqlite3');
});

t.test('init outside a git work tree is refused with a clear message', async (t) => {
  const p = tempProject('nogit', {}, { git: false });
  t.teardown(p.cleanup);
  const r = await runCli(['init'], { cwd: p.dir, env: { ...p.env, GIT_CEILING_DIRECTORIES: join(p.dir, '..') } });
  t.equal(r.code, 64);
  t.match(r.stderr, /not inside a git work tree/);
  t.match(r.stderr, /git init/);
  t.notOk(existsSync(join(p.dir, 'agent-runner.toml')));
});

t.test('config check: exit 78 with file:line:col, key, expected, found, hint; no stack trace', async (t) => {
  const p = tempProject('bad', {
    'PROMPT.md': 'x',
    'agent-runner.toml': '[agent]\ncommand = ["sh"]\n[prompt]\nfile = "PROMPT.md"\n[runtime]\nrestart_dealy_s = 5\n',
  });
  t.teardown(p.cleanup);
  const r = await runCli(['config', 'check'], { cwd: p.dir, env: p.env });
  t.equal(r.code, 78);
  t.match(r.stderr, /agent-runner\.toml:6:1: unknown key `runtime\.restart_dealy_s` \[ERR_AR_CONFIG_UNKNOWN_KEY\]/);
  t.match(r.stderr, /hint: did you mean `runtime\.restart_delay_s`\?/);
  t.notMatch(r.stderr, / {4}at /, 'no stack trace');
  const j = await runCli(['config', 'check', '--json'], { cwd: p.dir, env: p.env });
  t.equal(j.code, 78);
  const err = (JSON.parse(j.stdout) as { error: Record<string, unknown> }).error;
  t.match(err, { code: 'ERR_AR_CONFIG_UNKNOWN_KEY', line: 6, column: 1, key: 'runtime.restart_dealy_s', exit_code: 78 });

  const syntax = await runCli(['config', 'check', '--config', p.write('syntax.toml', '[agent\n')], { cwd: p.dir, env: p.env });
  t.equal(syntax.code, 78);
  t.match(syntax.stderr, /syntax\.toml:1:\d+: invalid TOML/);

  const missing = await runCli(['config', 'check', '--config', 'nope.toml'], { cwd: p.dir, env: p.env });
  t.equal(missing.code, 78);
  t.match(missing.stderr, /config file not found: .*nope\.toml/);
});

t.test('config check redacts secrets and prints the normalised config', async (t) => {
  const p = tempProject('sec', {
    'PROMPT.md': 'x',
    'agent-runner.toml':
      '[agent]\ncommand = ["sh"]\nenv = { ANTHROPIC_API_KEY = "sk-ant-abcdefghijklmnopqrstuvwxyz", MODE = "fast" }\n[prompt]\nfile = "PROMPT.md"\n',
  });
  t.teardown(p.cleanup);
  const r = await runCli(['config', 'check'], { cwd: p.dir, env: p.env });
  t.equal(r.code, 0, r.stderr);
  t.notMatch(r.stdout, /sk-ant-abc/, 'the key never appears');
  t.match(r.stdout, /ANTHROPIC_API_KEY = "\[redacted\]"/);
  t.match(r.stdout, /MODE = "fast"/);
  t.match(r.stdout, /restart_delay_s = 5/, 'defaults applied');
  t.match(r.stdout, new RegExp(`work_dir = "${p.dir}"`), 'paths absolute');
});

t.test('usage errors exit 64 with a suggestion; --help explains', async (t) => {
  const p = tempProject('u');
  t.teardown(p.cleanup);
  const r = await runCli(['confgi', 'check'], { cwd: p.dir, env: p.env });
  t.equal(r.code, 64);
  t.match(r.stderr, /Did you mean config\?/);
  const h = await runCli(['--help'], { cwd: p.dir, env: p.env });
  t.equal(h.code, 0);
  for (const verb of ['init', 'config', 'events', 'doctor']) t.match(h.stdout, new RegExp(`agent-runner ${verb}`));
  const v = await runCli(['--version'], { cwd: p.dir, env: p.env });
  t.match(v.stdout.trim(), /^\d+\.\d+\.\d+/);
  t.ok(statSync(p.dir).isDirectory());
});
