// The engine under systemd, driven probe by probe on real target processes, with systemd's view
// scripted as `systemctl show` reports it (the real thing runs in e2e/systemd.test.ts): what
// systemd is handling is never a heal, and a breaker counts only failures that outlast it.
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { EventWriter } from '@agent-runner/core/events';
import { readBootId } from '@agent-runner/core/identity';
import { openLedger } from '@agent-runner/core/ledger';
import { projectPaths } from '@agent-runner/core/paths';
import { HealEngine } from '../src/heal.js';
import type { SystemdView } from '../src/systemd.js';
import { healSettings } from '../src/tiers.js';
import { INSTALLED, sandbox, sleep } from './fixtures/harness.js';

const mono = (): number => Number(process.hrtime.bigint() / 1_000_000n);
const UNIT = 'agent-runner-bridge@wdt.service';

function setup(t: Test) {
  const sb = sandbox('');
  const paths = projectPaths('wdt', sb.stateDir, join(sb.stateDir, 'logs'));
  const ledger = openLedger(paths.ledgerPath);
  const events = new EventWriter({ dir: paths.eventsDir, project: 'wdt', unit: 'watchdog' });
  let current: SystemdView | undefined;
  // What the n-th read of systemd returns (default: the current view).
  let script = (_n: number, v: SystemdView | undefined): SystemdView | undefined => v;
  let reads = 0;
  const engine = new HealEngine({
    paths,
    project: 'wdt',
    ledger,
    events,
    bootId: readBootId(),
    now: Date.now,
    mono,
    settings: healSettings({
      interval_s: 0.2,
      stale_after_s: { runner: 5, bridge: 1, monitor: 5 },
      tier_cooldown_s: 1,
      term_grace_s: 0.5,
      verify_window_s: 1,
      startup_grace_s: 2,
      breaker_after_failed_t3: 2,
      breaker_after_same_signature: 5,
      signature_window_s: 3600,
      restart_loop_s: 2,
      systemd_units: { runner: 'r.service', bridge: UNIT, monitor: 'm.service' },
      respawn_command: {},
    }),
    targets: undefined,
    kill: (pid, sig) => process.kill(pid, sig),
    installedVersion: () => INSTALLED,
    systemdUnit: () => UNIT,
    fallbackRespawn: () => undefined,
    env: {},
    log: () => undefined,
    systemd: { show: async () => script(reads++, current), user: false },
    sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
  });
  t.teardown(() => {
    ledger.close();
    events.close();
    sb.cleanup();
  });
  const viewOf = (): SystemdView => current as SystemdView;
  const view = (o: Partial<SystemdView>): void => {
    current = {
      unit: UNIT,
      loadState: 'loaded',
      activeState: 'active',
      subState: 'running',
      result: 'success',
      execMainCode: 0,
      execMainStatus: 0,
      mainPid: 0,
      nRestarts: 0,
      activeEnterMonoUs: (mono() - 60_000) * 1000,
      unitFileState: 'disabled',
      wantedBy: ['agent-runner@wdt.target'],
      ...o,
    };
  };
  const probes = async (n: number): Promise<void> => {
    for (let i = 0; i < n; i++) {
      await engine.probe('bridge');
      await sleep(100);
    }
  };
  const actions = () =>
    ledger.watchdog
      .recentHealActions(50, 'bridge')
      .reverse()
      .map((a) => `${a.action} ${a.result}`);
  const reScript = (f: typeof script): void => {
    script = f;
  };
  const notified = (): number => Object.values(ledger.outbox.countByStatus()).reduce((a, b) => a + b, 0);
  return { sb, ledger, engine, view, viewOf, probes, actions, reScript, notified };
}

t.test('a unit systemd restarts by itself is no heal, and no failed T3 (19 #2)', async (t) => {
  const s = setup(t);
  for (let n = 1; n <= 5; n++) {
    const c = await s.sb.target('bridge');
    s.view({ mainPid: c.pid!, nRestarts: n - 1 });
    await s.probes(2);
    process.kill(c.pid!, 'SIGKILL');
    await new Promise((r) => c.once('exit', r));
    s.view({ activeState: 'activating', subState: 'auto-restart', result: 'signal', execMainCode: 2, execMainStatus: 9, nRestarts: n - 1 });
    await s.probes(3); // the enrollment is left behind, its identity gone: systemd is on it
  }
  t.same(s.actions(), [], 'five SIGKILLs, five restarts by systemd: no heal action');
  t.equal(s.ledger.watchdog.getHealState('bridge')?.breaker ?? 'closed', 'closed');
  t.equal(s.notified(), 0, 'nothing notified');
});

t.test('a T3 whose unit systemd keeps restarting is superseded, not failed', async (t) => {
  const s = setup(t);
  const c = await s.sb.target('bridge');
  s.view({ mainPid: c.pid! });
  await s.probes(1);
  process.kill(c.pid!, 'SIGSTOP');
  await sleep(1300); // stale
  await s.probes(1);
  t.same(s.actions(), ['sigkill-respawn requested'], 'a stopped process: SIGKILL, systemd restarts it');
  s.view({ activeState: 'activating', subState: 'auto-restart', result: 'signal', execMainCode: 2, execMainStatus: 9, nRestarts: 1 });
  await s.probes(25); // past cooldown + verification window
  t.same(s.actions(), ['sigkill-respawn requested', 'verify-t3 superseded'], 'handed over to systemd');
  const st = s.ledger.watchdog.getHealState('bridge')!;
  t.same([st.consecutiveFailures, st.tier, st.breaker], [0, 0, 'closed'], 'no failure counted');
});

t.test('a unit systemd gave up on opens the breaker with one alarm; healthy again, it closes with the recovery', async (t) => {
  const s = setup(t);
  s.view({ activeState: 'failed', result: 'exit-code', execMainCode: 1, execMainStatus: 1 });
  await s.probes(5);
  t.same(s.actions(), ['breaker-open succeeded'], 'no tier: the watchdog may not start units');
  const alarms = () => s.ledger.monitor.activeAlerts({ project: 'wdt' }).filter((a) => a.detector === 'breaker_open:bridge');
  t.equal(alarms().length, 1, 'one breaker_open alarm');
  t.equal(s.notified(), 1, 'one notification in five probes');
  const c = await s.sb.target('bridge'); // the operator fixed it: systemctl start
  s.view({ mainPid: c.pid! });
  await s.probes(12);
  t.same(s.actions(), ['breaker-open succeeded', 'breaker-close succeeded']);
  t.equal(alarms().length, 0, 'cleared');
  t.equal(s.notified(), 2, 'and its recovery');
  t.equal(s.ledger.watchdog.getHealState('bridge')?.breaker, 'closed');
});

t.test('active when read, restarting when re-read: no action on a restart that began in between', async (t) => {
  const s = setup(t);
  const c = await s.sb.target('bridge');
  s.view({ mainPid: c.pid! });
  await s.probes(1);
  process.kill(c.pid!, 'SIGKILL');
  await new Promise((r) => c.once('exit', r));
  s.view({ mainPid: c.pid! });
  // The first read of each probe still says active, the re-read that the restart began.
  s.reScript((n, v) => (n % 2 === 0 ? v : v && { ...v, activeState: 'deactivating', subState: 'stop-sigterm' }));
  await s.probes(6);
  t.same(s.actions(), [], 'no action');
});

t.test('a unit systemd restarts forever, never healthy, opens its breaker: one alarm (nobody else would tell)', async (t) => {
  const s = setup(t);
  let n = 0;
  // Crashes before it enrols: systemd shows it activating (auto-restart), then starting again.
  s.reScript(() => {
    n += 1;
    return {
      ...s.viewOf(),
      activeState: 'activating',
      subState: n % 2 ? 'auto-restart' : 'start',
      result: 'exit-code',
      execMainCode: 1,
      execMainStatus: 70,
      nRestarts: Math.floor(n / 2),
    };
  });
  s.view({});
  await s.probes(10); // ~1 s, 5 restarts: not yet long enough
  t.equal(s.ledger.watchdog.getHealState('bridge')?.breaker ?? 'closed', 'closed', 'not before restart_loop_s');
  await s.probes(20); // past 2 s, more restarts
  t.equal(s.ledger.watchdog.getHealState('bridge')?.breaker, 'open', 'breaker open');
  const rows = s.ledger.monitor.activeAlerts({ raisedBy: 'watchdog' });
  t.match(rows, [{ detector: 'breaker_open:bridge', message: /watchdog stopped healing bridge/ }]);
  t.match(s.actions(), ['breaker-open succeeded'], 'no heal action: systemd was on it');
  t.equal(s.notified(), 1, 'exactly one alarm');
});
