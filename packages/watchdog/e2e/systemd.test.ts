// End to end under a real systemd (PID 1 of a private namespace, see scripts/systemd-sandbox.sh): a bridge
// and a monitor unit (stand-ins: the target fixture, Restart=always) frozen one after the
// other are healed by the watchdog unit through T1 -> T2 -> T3 with `systemctl restart`;
// journalctl and `heal status` tell the story.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';

const SANDBOX = fileURLToPath(new URL('../../../scripts/systemd-sandbox.sh', import.meta.url));
const REPO = fileURLToPath(new URL('../../../', import.meta.url)).replace(/\/$/, '');
const TARGET = join(REPO, 'packages/watchdog/test/fixtures/target.mjs');
const CLI = join(REPO, 'packages/cli/dist/bin.js');
const NODE = process.execPath;
const VERSION = (JSON.parse(readFileSync(join(REPO, 'packages/watchdog/package.json'), 'utf8')) as { version: string }).version;

const root = mkdtempSync('/var/tmp/ar-wd-e2e-');
const stateDir = join(root, 'state');
mkdirSync(stateDir, { recursive: true, mode: 0o700 });
writeFileSync(join(root, 'prompt.md'), 'x\n');
const config = join(root, 'agent-runner.toml');
writeFileSync(config, [
  'project = "wdt"', '[agent]', 'preset = "generic"', 'command = ["true"]', '[prompt]', 'file = "prompt.md"',
  '[runtime]', `state_dir = ${JSON.stringify(stateDir)}`, 'heartbeat_interval_s = 1',
  '[watchdog]', 'targets = ["bridge", "monitor"]', 'interval_s = 0.5', 'tier_cooldown_s = 4', 'term_grace_s = 1',
  'verify_window_s = 2', 'stale_after_s.bridge = 2', 'stale_after_s.monitor = 2', '',
].join('\n'));

const sandboxPid = execFileSync(SANDBOX, ['start', REPO, root], { encoding: 'utf8' }).trim();
const sx = (...cmd: string[]): string => execFileSync(SANDBOX, ['exec', sandboxPid, ...cmd], { encoding: 'utf8' });
t.teardown(() => {
  try {
    execFileSync(SANDBOX, ['stop', sandboxPid]);
  } catch {
    // already gone
  }
  rmSync(root, { recursive: true, force: true });
});

const unit = (desc: string, exec: string[], extra: string[] = []): string => [
  '[Unit]', `Description=${desc}`, '[Service]', `ExecStart=${exec.join(' ')}`, `Environment=HOME=${root}`, 'Restart=always', 'RestartSec=0.2', ...extra, '',
].join('\n');
const units: Record<string, string> = {
  'agent-runner-bridge@.service': unit('bridge stand-in %i', [NODE, TARGET, stateDir, 'bridge', VERSION, 'normal']),
  'agent-runner-monitor@.service': unit('monitor stand-in %i', [NODE, TARGET, stateDir, 'monitor', VERSION, 'normal']),
  'agent-runner-watchdog@.service': unit('agent-runner watchdog %i', [NODE, CLI, 'watchdog', '--config', config],
    ['Type=notify', 'NotifyAccess=all', 'WatchdogSec=10', 'RestartPreventExitStatus=78']),
};
try {
  for (const [name, text] of Object.entries(units)) sx('sh', '-c', `cat > /etc/systemd/system/${name} <<'EOF'\n${text}EOF`);
  sx('systemctl', 'daemon-reload');
  sx('systemctl', 'start', 'agent-runner-bridge@wdt', 'agent-runner-monitor@wdt');
  sx('systemctl', 'start', 'agent-runner-watchdog@wdt');
} catch (e) {
  try {
    process.stderr.write(sx('journalctl', '-u', 'agent-runner-watchdog@wdt', '--no-pager'));
  } finally {
    // A top-level throw skips tap's teardown: do not leave the sandbox running.
    execFileSync(SANDBOX, ['stop', sandboxPid]);
    rmSync(root, { recursive: true, force: true });
  }
  throw e;
}

const evDir = join(stateDir, 'logs', 'events');
const events = (kinds: string[]): Array<Record<string, unknown>> =>
  !existsSync(evDir) ? [] : readdirSync(evDir).sort().flatMap((f) => readFileSync(join(evDir, f), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>))
    .filter((e) => kinds.includes(String(e['kind'])));
const waitFor = async <T>(what: string, fn: () => T | undefined | false, ms = 40_000): Promise<T> => {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v !== undefined && v !== false) return v as T;
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
};
const mainPid = (u: string): number => Number(sx('systemctl', 'show', '-p', 'MainPID', '--value', u).trim());

for (const target of ['bridge', 'monitor'] as const) {
  t.test(`${target} frozen under systemd is healed by the watchdog unit`, async (t) => {
    const u = `agent-runner-${target}@wdt.service`;
    await waitFor(`${target} healthy`, () => events(['heal_verdict_changed']).filter((e) => e['target'] === target).at(-1)?.['to'] === 'healthy');
    const pid = mainPid(u);
    t.ok(pid > 1, `${u} runs as pid ${pid}`);
    const frozenAt = Date.now();
    sx('kill', '-STOP', String(pid));
    const v = await waitFor(`${target} T3 verified`, () => events(['heal_verified']).find((e) => e['target'] === target && e['tier'] === 3));
    t.equal(v['result'], 'succeeded');
    const steps = events(['heal_action', 'heal_verified']).filter((e) => e['target'] === target)
      .map((e) => (e['kind'] === 'heal_action' ? `T${e['tier']} ${e['action']}` : `T${e['tier']} ${e['result']}`));
    t.same(steps, ['T1 restart_marker', 'T1 failed', 'T2 sigterm', 'T2 failed', 'T3 sigkill_respawn', 'T3 succeeded']);
    const newPid = mainPid(u);
    t.not(newPid, pid, 'systemd runs a new process');
    t.comment(`${target}: frozen -> verified healthy in ${Date.now() - frozenAt} ms`);
  });
}

t.test('journalctl and heal status tell the story', async (t) => {
  const journal = sx('journalctl', '-u', 'agent-runner-watchdog@wdt', '--no-pager', '-o', 'cat');
  t.match(journal, /bridge: T3 SIGKILL \+ respawn: .*respawn via systemd/);
  t.match(journal, /monitor: T3 succeeded/);
  const st = JSON.parse(sx(NODE, CLI, 'heal', 'status', '--json', '--config', config)) as { watchdog: { verdict: string }; targets: Array<{ target: string; verdict: string; recent_actions: unknown[] }> };
  t.equal(st.watchdog.verdict, 'healthy', 'the watchdog unit is healthy');
  for (const x of st.targets.filter((y) => y.target !== 'runner')) {
    t.equal(x.verdict, 'healthy', `${x.target} healthy`);
    t.ok(x.recent_actions.length >= 6, `${x.target}: actions listed`);
  }
  t.equal(sx('systemctl', 'is-active', 'agent-runner-watchdog@wdt').trim(), 'active', 'watchdog unit stayed active (WatchdogSec pings arrive)');
});

t.test('a unit stopped by the operator is left stopped', async (t) => {
  sx('systemctl', 'stop', 'agent-runner-monitor@wdt');
  const before = events(['heal_action']).length;
  const v = await waitFor('monitor verdict unknown', () => events(['heal_verdict_changed']).filter((e) => e['target'] === 'monitor').at(-1)?.['to'] === 'unknown' && events(['heal_verdict_changed']).filter((e) => e['target'] === 'monitor').at(-1));
  t.match(String(v['reason']), /inactive/);
  await new Promise((r) => setTimeout(r, 3000));
  t.equal(events(['heal_action']).length, before, 'no heal action');
  t.equal(sx('sh', '-c', 'systemctl is-active agent-runner-monitor@wdt || true').trim(), 'inactive');
});
