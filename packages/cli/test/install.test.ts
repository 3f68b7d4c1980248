import t from 'tap';
import { execFileSync } from 'node:child_process';
import { tempProject, runCli } from '@agent-runner/testkit/project';

const CONFIG = `project = "demo"
[agent]
preset = "generic"
command = ["node", "agent.mjs"]
[prompt]
file = "PROMPT.md"
[runtime]
round_timeout_s = 45
kill_grace_s = 5
`;

/** A non-root account of this host with a real group (for --run-as), e.g. daemon. */
function someUser(): string {
  const lines = execFileSync('getent', ['passwd'], { encoding: 'utf8' }).split('\n');
  const u = lines.map((l) => l.split(':')).find((f) => Number(f[2]) > 0 && f[0] !== 'nobody' && f.length >= 7);
  return u?.[0] ?? 'daemon';
}

t.test('install --print renders the units for the user mode, changing nothing', async (t) => {
  const p = tempProject('demo', { 'agent-runner.toml': CONFIG, 'PROMPT.md': 'work\n', 'agent.mjs': '' });
  t.teardown(p.cleanup);
  const r = await runCli(['install', '--print', '--bridge'], { cwd: p.dir, env: p.env });
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, `# ==> ${p.home}/.config/systemd/user/agent-runner@.service <==`);
  t.match(
    r.stdout,
    /ExecStart=\S+node --optimize-for-size --expose-gc \S+\/packages\/cli\/dist\/bin\.js serve/,
    'absolute node and CLI paths',
  );
  t.match(r.stdout, /TimeoutStopSec=80\n/, 'round_timeout_s 45 + kill_grace_s 5 + 30');
  t.match(r.stdout, /^Wants=agent-runner@demo.service agent-runner-bridge@demo.service$/m);
  t.match(r.stdout, /# {3}loginctl enable-linger /);
  t.match(r.stdout, /# {3}systemctl --user enable agent-runner@demo.target/);
  t.notMatch(r.stdout, /^User=/m, 'user units have no User=');
});

t.test('install --system --print: units run as SUDO_USER or --run-as, never as root by default', async (t) => {
  const p = tempProject('demo', { 'agent-runner.toml': CONFIG, 'PROMPT.md': 'work\n', 'agent.mjs': '' });
  t.teardown(p.cleanup);
  const user = someUser();
  const bySudo = await runCli(['install', '--system', '--print'], { cwd: p.dir, env: { ...p.env, SUDO_USER: user } });
  t.equal(bySudo.code, 0, bySudo.stderr);
  t.match(bySudo.stdout, new RegExp(`^User=${user}$`, 'm'));
  t.match(bySudo.stdout, /^Group=\S+$/m);
  t.match(bySudo.stdout, /^StateDirectory=agent-runner\/%i$/m);
  t.match(bySudo.stdout, /^Environment=AGENT_RUNNER_MODE=system$/m);
  t.match(bySudo.stdout, /# ==> \/etc\/systemd\/system\/agent-runner@demo.service.d\/50-agent-runner.conf <==/);
  const byFlag = await runCli(['install', '--system', '--print', '--run-as', user], { cwd: p.dir, env: p.env });
  t.match(byFlag.stdout, new RegExp(`^User=${user}$`, 'm'));
  // This suite runs as root (CI): with no SUDO_USER the service user would be root.
  if (process.getuid?.() === 0) {
    const refused = await runCli(['install', '--system', '--print'], { cwd: p.dir, env: p.env });
    t.equal(refused.code, 77, 'EX_NOPERM');
    t.match(refused.stderr, /refusing to install units that run the agent as root \[ERR_AR_NOPERM\]/);
    const allowed = await runCli(['install', '--system', '--print', '--allow-root'], { cwd: p.dir, env: p.env });
    t.equal(allowed.code, 0);
    t.match(allowed.stdout, /^User=root$/m);
  }
  const nobody = await runCli(['install', '--system', '--print', '--run-as', 'no-such-user-xyz'], { cwd: p.dir, env: p.env });
  t.equal(nobody.code, 64);
});

t.test('install refuses a broken config (78) and uninstall of a project never installed says so', async (t) => {
  const p = tempProject('demo', { 'agent-runner.toml': CONFIG.replace('PROMPT.md', 'MISSING.md'), 'agent.mjs': '' });
  t.teardown(p.cleanup);
  const r = await runCli(['install', '--print'], { cwd: p.dir, env: p.env });
  t.equal(r.code, 78, r.stderr);
  const u = await runCli(['uninstall', '--project', 'never-installed-xyz'], { cwd: p.dir, env: p.env });
  t.equal(u.code, 64);
  t.match(u.stderr, /no agent-runner units installed \[ERR_AR_NOT_INSTALLED\]/);
});
