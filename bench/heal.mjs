#!/usr/bin/env node
// Heal latency of the installed suite with DEFAULT settings (issue 12 #4), under the real
// systemd sandbox: `agent-runner install --system --bridge --watchdog --monitor` of a project
// whose agent is the soak's fake Claude CLI, then, one at a time: a frozen (SIGSTOP) serve and
// bridge, a SIGKILLed serve and bridge; each timed from the fault to the unit active again
// with a new main process that is enrolled (READY=1 comes after its enrollment). Also the
// start-up time of each unit to READY=1. Needs root and the tree built (`npx tsc -b`).
//
//   node bench/heal.mjs
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { lastEvents } from '../packages/core/dist/events/index.js';
import { Sandbox } from '../packages/testkit/dist/soak/sandbox.js';
import { installFakeClaude, must, setupProject, writeInside } from '../packages/testkit/dist/soak/setup.js';

const root = fileURLToPath(new URL('..', import.meta.url)).replace(/\/$/, '');
const CLI = `${root}/packages/cli/dist/bin.js`;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const sb = await Sandbox.start([root]);
process.on('exit', () => sb.stop());
for (const s of ['SIGINT', 'SIGTERM']) process.on(s, () => process.exit(130));
try {
  await installFakeClaude(sb, process.execPath, `${root}/packages/testkit/dist/fake-claude-bin.js`);
  const notify = { webhook: 'http://127.0.0.1:9/', ntfyServer: 'http://127.0.0.1:9', ntfyTopic: 'heal' };
  const p = await setupProject({ sandbox: sb, name: 'heal', notify, node: process.execPath, cli: CLI });
  // Production defaults everywhere: only what the project itself needs, and rounds that follow
  // each other closely (restart_delay_s) so there is always work whose stop is visible.
  writeInside(
    sb,
    p.configFile,
    [
      'project = "heal"',
      '[agent]',
      'preset = "claude"',
      'command = ["claude", "-p", "--output-format", "stream-json", "--verbose", "--dangerously-skip-permissions"]',
      '[prompt]',
      'file = "PROMPT.md"',
      '[runtime]',
      'restart_delay_s = 1',
      '[vcs]',
      'dirty_action = "stash"',
      '',
    ].join('\n'),
  );
  must(await sb.sh(`systemctl restart ${p.units.target}`), 'restart with defaults');
  const units = [p.units.serve, p.units.bridge, p.units.watchdog, p.units.monitor];
  const props = [
    'ActiveState',
    'SubState',
    'MainPID',
    'ExecMainStartTimestampMonotonic',
    'ActiveEnterTimestampMonotonic',
    'NRestarts',
    'Result',
  ];
  const state = async (u) => (await sb.show([u], props)).get(u) ?? {};
  const enrolledPid = (role) => {
    try {
      return JSON.parse(readFileSync(sb.path(`${p.stateDir}/run/enroll-${role}.json`), 'utf8')).pid;
    } catch {
      return undefined;
    }
  };
  // Every heal action is also a `heal_action` event, read through /proc/<pid>/root.
  const eventsDir = sb.path(`${p.logDir}/events`);
  const healActions = async () => {
    if (!existsSync(eventsDir)) throw new Error(`no event stream at ${eventsDir}`);
    return lastEvents(eventsDir, { n: 10_000, kinds: ['heal_action'] }).events;
  };
  const allUp = async () => (await Promise.all(units.map(state))).every((s) => s.ActiveState === 'active');
  for (let i = 0; i < 150 && !(await allUp()); i++) await sleep(200);
  await sleep(20_000); // settled: the watchdog has probed everything once or twice
  if (!(await allUp())) {
    console.error((await sb.sh(`systemctl --no-pager status ${units.join(' ')}; journalctl --no-pager -n 40`)).stdout);
    throw new Error('the suite is not up 50 s after its start');
  }

  console.log('\n## Start-up to READY=1 (ExecMainStart -> ActiveEnter, systemd monotonic clock)\n');
  console.log('| unit | s |\n|---|---:|');
  for (const u of units) {
    const s = await state(u);
    console.log(`| ${u} | ${((Number(s.ActiveEnterTimestampMonotonic) - Number(s.ExecMainStartTimestampMonotonic)) / 1e6).toFixed(2)} |`);
  }

  const faults = [
    ['frozen serve (SIGSTOP)', p.units.serve, 'runner', 'STOP'],
    ['frozen bridge (SIGSTOP)', p.units.bridge, 'bridge', 'STOP'],
    ['serve SIGKILLed', p.units.serve, 'runner', 'KILL'],
    ['bridge SIGKILLed', p.units.bridge, 'bridge', 'KILL'],
  ];
  console.log('\n## Fault to healthy again, default settings\n');
  console.log('| fault | healed by | s |\n|---|---|---:|');
  for (const [what, unit, role, sig] of faults) {
    const before = await state(unit);
    const pid = Number(before.MainPID);
    const healsBefore = await healActions();
    const t0 = Date.now();
    must(await sb.sh(`kill -${sig} ${pid}`), `kill -${sig}`);
    let s = before;
    let result; // why systemd's main process ended, read while it waits RestartSec
    while (Date.now() - t0 < 300_000) {
      s = await state(unit);
      if (s.SubState === 'auto-restart') result ??= s.Result;
      if (s.ActiveState === 'active' && Number(s.MainPID) !== pid && enrolledPid(role) === Number(s.MainPID)) break;
      await sleep(200);
    }
    const ok = Number(s.MainPID) !== pid && s.ActiveState === 'active';
    const heals = (await healActions()).slice(healsBefore.length);
    const by = [
      heals.length ? `the watchdog (${heals.map((h) => h.action).join(', ')})` : '',
      result === 'watchdog' ? 'systemd WatchdogSec=, then Restart=' : `systemd Restart= (Result=${result})`,
    ]
      .filter(Boolean)
      .join(' + ');
    console.log(`| ${what} | ${by} | ${ok ? ((Date.now() - t0) / 1000).toFixed(1) : 'not healed in 300 s'} |`);
    await sleep(15_000);
  }
  console.log(
    `\nwatchdog heal actions during the run: ${JSON.stringify((await healActions()).map((h) => ({ target: h.target, tier: h.tier, action: h.action })))}`,
  );
} finally {
  sb.stop();
}
