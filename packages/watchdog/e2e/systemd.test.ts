// End to end under a real systemd (PID 1 of a private namespace, see scripts/systemd-sandbox.sh),
// as a system-mode install runs it: Type=notify units (stand-ins on the unit lifecycle for the
// runner, bridge and monitor; the real `agent-runner watchdog`), all running as an unprivileged
// service user, grouped by the project target.
// 1. Default settings: a SIGSTOPped unit is healthy again within 90 s (the watchdog's frozen
//    check SIGKILLs it, systemd's Restart=on-failure brings it back); a unit the operator
//    stopped is left stopped; the service user cannot restart any unit.
// 2. Short settings: units restarted again and again, SIGKILLed and restarted by systemd, or
//    stopped, get no heal action at all; a hung unit that ignores its marker gets T2, exits 75
//    and is restarted by systemd (never left stopped as after an operator's stop).
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { until } from '@agent-runner/testkit/until';

const SANDBOX = fileURLToPath(new URL('../../../scripts/systemd-sandbox.sh', import.meta.url));
const REPO = fileURLToPath(new URL('../../../', import.meta.url)).replace(/\/$/, '');
const TARGET = join(REPO, 'packages/watchdog/test/fixtures/target.mjs');
const CLI = join(REPO, 'packages/cli/dist/bin.js');
const NODE = process.execPath;
const VERSION = (JSON.parse(readFileSync(join(REPO, 'packages/watchdog/package.json'), 'utf8')) as { version: string }).version;
const USER = 'arsvc';

const root = mkdtempSync('/var/tmp/ar-wd-e2e-');
const stateDir = join(root, 'state');
mkdirSync(stateDir, { recursive: true, mode: 0o700 });
writeFileSync(join(root, 'prompt.md'), 'x\n');
const config = join(root, 'agent-runner.toml');
const writeConfig = (watchdog: string[]): void =>
  writeFileSync(
    config,
    [
      'project = "wdt"',
      '[agent]',
      'preset = "generic"',
      'command = ["true"]',
      '[prompt]',
      'file = "prompt.md"',
      // heartbeat_interval_s: the short stale_after_s.runner of phase 2 must exceed twice it.
      '[runtime]',
      `state_dir = ${JSON.stringify(stateDir)}`,
      'heartbeat_interval_s = 1',
      '[watchdog]',
      ...watchdog,
      '',
    ].join('\n'),
  );
writeConfig([]); // phase 1: the defaults

const sandboxPid = execFileSync(SANDBOX, ['start', REPO, root], { encoding: 'utf8' }).trim();
const sx = (...cmd: string[]): string => execFileSync(SANDBOX, ['exec', sandboxPid, ...cmd], { encoding: 'utf8' });
const stopSandbox = (): void => {
  try {
    execFileSync(SANDBOX, ['stop', sandboxPid]);
  } catch {
    // already gone
  }
  rmSync(root, { recursive: true, force: true });
};
t.teardown(stopSandbox);

const service = (desc: string, exec: string[], extra: string[]): string =>
  [
    '[Unit]',
    `Description=${desc}`,
    'PartOf=agent-runner@%i.target',
    'StartLimitIntervalSec=0',
    '[Service]',
    'Type=notify',
    'NotifyAccess=all',
    `User=${USER}`,
    `ExecStart=${exec.join(' ')}`,
    'Restart=on-failure',
    'RestartForceExitStatus=75',
    'KillMode=mixed',
    'TimeoutStopSec=10',
    ...extra,
    '[Install]',
    'WantedBy=agent-runner@%i.target',
    '',
  ].join('\n');
const stand = (unit: string): string[] => [NODE, TARGET, stateDir, unit, VERSION, 'normal'];
const UNITS = {
  runner: 'agent-runner@wdt.service',
  bridge: 'agent-runner-bridge@wdt.service',
  monitor: 'agent-runner-monitor@wdt.service',
  watchdog: 'agent-runner-watchdog@wdt.service',
} as const;
const files: Record<string, string> = {
  'agent-runner@.service': service('runner stand-in %i', stand('runner'), ['RestartSec=1', 'RestartPreventExitStatus=69 78']),
  // The frozen one: RestartSec as installed; systemd's own WatchdogSec= longer than the
  // watchdog's frozen check, so the check is what is measured.
  'agent-runner-bridge@.service': service('bridge stand-in %i', stand('bridge'), [
    'RestartSec=10',
    'WatchdogSec=120',
    'RestartPreventExitStatus=78',
  ]),
  'agent-runner-monitor@.service': service('monitor stand-in %i', stand('monitor'), ['RestartSec=1', 'RestartPreventExitStatus=78']),
  'agent-runner-watchdog@.service': service(
    'agent-runner watchdog %i',
    [NODE, CLI, 'watchdog', '--config', config],
    ['RestartSec=1', 'WatchdogSec=120', 'RestartPreventExitStatus=78'],
  ),
  'agent-runner@.target': '[Unit]\nDescription=agent-runner project %i\nStartLimitIntervalSec=0\n',
  'agent-runner@wdt.target.d/50-agent-runner.conf': `[Unit]\nWants=${Object.values(UNITS).join(' ')}\n`,
};
const mainPid = (u: string): number => Number(sx('systemctl', 'show', '-p', 'MainPID', '--value', u).trim());
const active = (u: string): string => sx('sh', '-c', `systemctl is-active ${u} || true`).trim();
try {
  sx('useradd', '--system', '--create-home', USER);
  sx('chown', '-R', `${USER}:`, root);
  for (const [name, text] of Object.entries(files)) {
    sx('mkdir', '-p', join('/etc/systemd/system', dirname(name)));
    sx('sh', '-c', `cat > /etc/systemd/system/${name} <<'EOF'\n${text}EOF`);
  }
  sx('systemctl', 'daemon-reload');
  sx('systemctl', 'start', 'agent-runner@wdt.target');
} catch (e) {
  try {
    process.stderr.write(sx('journalctl', '--no-pager', '-n', '80'));
  } finally {
    // A top-level throw skips tap's teardown: do not leave the sandbox running.
    stopSandbox();
  }
  throw e;
}

const evDir = join(stateDir, 'logs', 'events');
const events = (kinds: string[], target?: string): Array<Record<string, unknown>> =>
  !existsSync(evDir)
    ? []
    : readdirSync(evDir)
        .sort()
        .flatMap((f) =>
          readFileSync(join(evDir, f), 'utf8')
            .split('\n')
            .filter(Boolean)
            .map((l) => JSON.parse(l) as Record<string, unknown>),
        )
        .filter((e) => kinds.includes(String(e['kind'])) && (target === undefined || e['target'] === target));
const json = (file: string): Record<string, unknown> | undefined => {
  try {
    return JSON.parse(readFileSync(join(stateDir, 'run', file), 'utf8')) as Record<string, unknown>;
  } catch {
    return undefined;
  }
};
/** The unit's current main process enrolled it and beat within 2 s. */
const healthy = (u: keyof typeof UNITS): boolean => {
  const pid = mainPid(UNITS[u]);
  const hb = json(`heartbeat-${u}.json`);
  return pid > 0 && json(`enroll-${u}.json`)?.['pid'] === pid && hb?.['pid'] === pid && Date.now() - Number(hb['written_at_ms']) < 2000;
};
const journal = (): string => sx('journalctl', '-u', UNITS.watchdog, '--no-pager', '-o', 'cat');

t.test('the service user can read the units but not restart any', async (t) => {
  const as = (...cmd: string[]) => spawnSync(SANDBOX, ['user', sandboxPid, USER, ...cmd], { encoding: 'utf8' });
  t.match(as('systemctl', 'show', '-p', 'ActiveState', UNITS.bridge).stdout, /^ActiveState=active$/m, 'systemctl show works unprivileged');
  for (const u of [UNITS.bridge, UNITS.runner, 'systemd-journald.service']) {
    const r = as('systemctl', 'restart', u);
    t.equal(r.status, 1, `systemctl restart ${u}: exit 1`);
    t.match(r.stderr, /Failed to restart .*: Interactive authentication required/, 'refused by polkit');
  }
  t.equal(sx('ps', '-o', 'user=', '-p', String(mainPid(UNITS.watchdog))).trim(), USER, 'the watchdog runs as the service user');
});

t.test('defaults: a SIGSTOPped unit is healthy again within 90 s; a stopped unit is left stopped', async (t) => {
  await until(
    'all three judged healthy',
    () => (['runner', 'bridge', 'monitor'] as const).every((u) => events(['heal_verdict_changed'], u).at(-1)?.['to'] === 'healthy'),
    40_000,
    200,
  );
  sx('systemctl', 'stop', UNITS.monitor); // the operator's stop, during the freeze
  const frozen = mainPid(UNITS.bridge);
  const frozenAt = Date.now();
  sx('kill', '-STOP', String(frozen));
  await until('bridge healthy again', () => mainPid(UNITS.bridge) !== frozen && healthy('bridge'), 100_000, 250);
  const healedS = (Date.now() - frozenAt) / 1000;
  t.ok(healedS <= 90, `frozen bridge healthy again after ${healedS.toFixed(1)} s (default settings, RestartSec=10)`);
  const acts = events(['heal_action'], 'bridge').map((e) => `T${e['tier']} ${e['action']} ${e['reason']}`);
  t.same(acts, ['T3 sigkill_respawn heartbeat_stale,process_stopped'], 'straight to T3: SIGKILL, systemd restarted it');
  const kill = Date.parse(String(events(['heal_action'], 'bridge')[0]?.['ts'])) - frozenAt;
  t.comment(`SIGKILL ${(kill / 1000).toFixed(1)} s after the freeze; healthy again after ${healedS.toFixed(1)} s`);
  t.match(
    journal(),
    /bridge: T3 SIGKILL \+ respawn: SIGKILL sent to pid \d+; respawn via systemd \(the watchdog runs under systemd\): left to systemd/,
  );
  t.equal(active(UNITS.monitor), 'inactive', 'the monitor the operator stopped stays stopped');
  t.same(events(['heal_action'], 'monitor'), [], 'no action on it');
  t.match(String(events(['heal_verdict_changed'], 'monitor').at(-1)?.['reason']), /inactive after a deliberate stop/);
  t.same(events(['heal_action'], 'runner'), [], 'none on the runner');
});

t.test('short settings: restarts, SIGKILLs restarted by systemd and stops get no heal action', async (t) => {
  writeConfig([
    'interval_s = 0.5',
    'stale_after_s.runner = 3',
    'stale_after_s.bridge = 3',
    'stale_after_s.monitor = 3',
    'tier_cooldown_s = 3',
    'verify_window_s = 2',
  ]);
  sx('systemctl', 'start', UNITS.monitor);
  sx('systemctl', 'restart', UNITS.watchdog);
  const from = events(['heal_action']).length;
  const seenFrom = events(['heal_verdict_changed']).length;
  const settle = async (): Promise<void> => {
    await until('all active and enrolled', () => (['runner', 'bridge', 'monitor'] as const).every((u) => healthy(u)), 30_000, 200);
  };
  await settle();
  const three = [UNITS.runner, UNITS.bridge, UNITS.monitor];
  for (let i = 0; i < 10; i++) {
    sx('systemctl', 'restart', ...three);
    await settle();
  }
  for (let i = 0; i < 3; i++) {
    sx('systemctl', 'restart', 'agent-runner@wdt.target'); // the watchdog starts with them
    await settle();
  }
  for (let i = 0; i < 5; i++) {
    const pid = mainPid(UNITS.runner);
    sx('kill', '-KILL', String(pid));
    await until('restarted by systemd', () => mainPid(UNITS.runner) !== pid && healthy('runner'), 20_000, 200);
  }
  sx('systemctl', 'stop', UNITS.runner);
  await new Promise((r) => setTimeout(r, 5000)); // ten probes
  t.equal(active(UNITS.runner), 'inactive', 'stopped stays stopped');
  t.same(events(['heal_action']).slice(from), [], '13 restarts, 5 SIGKILLs, 1 stop: no heal action');
  const seen = events(['heal_verdict_changed'])
    .slice(seenFrom)
    .map((e) => String(e['reason']));
  t.ok(
    seen.some((r) => /activating \(auto-restart\): systemd is on it/.test(r)),
    'the probes saw systemd restarting a unit',
  );
  const st = JSON.parse(sx(NODE, CLI, 'heal', 'status', '--json', '--config', config)) as {
    watchdog: { verdict: string };
    targets: Array<{ target: string; verdict: string; stance: string; breaker: string; failed_t3: number }>;
  };
  t.equal(st.watchdog.verdict, 'healthy', 'the watchdog unit is healthy');
  t.same(
    st.targets.map((x) => [x.target, x.stance, x.verdict, x.breaker, x.failed_t3]),
    [
      ['runner', 'stopped', 'unknown', 'closed', 0],
      ['bridge', 'judged', 'healthy', 'closed', 0],
      ['monitor', 'judged', 'healthy', 'closed', 0],
    ],
    'heal status: as systemd sees them, breakers closed',
  );
  t.equal(active(UNITS.watchdog), 'active', 'the watchdog unit stayed active (its WATCHDOG=1 pings arrive)');
});

t.test('a hung unit that ignores its marker: T2 SIGTERM, it exits 75 and systemd restarts it (19 #1)', async (t) => {
  const pid = mainPid(UNITS.monitor);
  const restarts = Number(sx('systemctl', 'show', '-p', 'NRestarts', '--value', UNITS.monitor).trim());
  const from = events(['heal_action', 'heal_verified'], 'monitor').length;
  sx('kill', '-USR1', String(pid)); // wedged: no heartbeat, no marker read, event loop running
  await until('restarted by systemd and healthy', () => mainPid(UNITS.monitor) !== pid && healthy('monitor'), 40_000, 200);
  const steps = events(['heal_action', 'heal_verified'], 'monitor')
    .slice(from)
    .map((e) => (e['kind'] === 'heal_action' ? `T${e['tier']} ${e['action']}` : `T${e['tier']} ${e['result']}`));
  t.same(steps.slice(0, 4), ['T1 restart_marker', 'T1 failed', 'T2 sigterm', 'T2 succeeded'], 'the SIGTERM ended it');
  const exit = json('exit-monitor.json');
  t.same([exit?.['pid'], exit?.['exit_code'], exit?.['reason']], [pid, 75, 'restart_marker'], 'it exited 75, not 0 (its exit record)');
  t.equal(
    Number(sx('systemctl', 'show', '-p', 'NRestarts', '--value', UNITS.monitor).trim()),
    restarts + 1,
    'and systemd restarted it (RestartForceExitStatus=75)',
  );
  t.equal(active(UNITS.monitor), 'active', 'never left inactive as if an operator had stopped it');
});
