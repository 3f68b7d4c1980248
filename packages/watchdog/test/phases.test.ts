// A watchdog killed inside T3 resumes from the persisted phase without repeating a step.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { EventWriter } from '@agent-runner/core/events';
import { readBootId } from '@agent-runner/core/identity';
import { openLedger } from '@agent-runner/core/ledger';
import { projectPaths } from '@agent-runner/core/paths';
import { HealEngine } from '../src/heal.js';
import { healSettings, type Pending } from '../src/tiers.js';

const mono = (): number => Number(process.hrtime.bigint() / 1_000_000n);

function setup(t: { teardown(fn: () => void): void }) {
  const dir = mkdtempSync(join(tmpdir(), 'ar-wd-phase-'));
  const paths = projectPaths('wdt', join(dir, 'state'), join(dir, 'state', 'logs'));
  const ledger = openLedger(paths.ledgerPath);
  const events = new EventWriter({ dir: paths.eventsDir, project: 'wdt', unit: 'watchdog' });
  const marks = join(dir, 'respawns');
  const killed: number[] = [];
  const bootId = readBootId();
  const engine = new HealEngine({
    paths,
    project: 'wdt',
    ledger,
    events,
    bootId,
    now: Date.now,
    mono,
    settings: healSettings({
      targets: ['bridge'],
      interval_s: 0.2,
      stale_after_s: { runner: 5, bridge: 1, monitor: 5 },
      tier_cooldown_s: 1,
      term_grace_s: 0.5,
      verify_window_s: 1,
      startup_grace_s: 0,
      breaker_after_failed_t3: 3,
      breaker_after_same_signature: 5,
      signature_window_s: 3600,
      restart_loop_s: 0,
      systemd_units: { runner: 'r.service', bridge: 'b.service', monitor: 'm.service' },
      respawn_command: {},
    }),
    targets: ['bridge'],
    kill: (pid) => void killed.push(pid),
    installedVersion: () => '0.1.0',
    systemdUnit: () => 'agent-runner-bridge@wdt.service',
    fallbackRespawn: () => ({
      argv: [process.execPath, '-e', `require('fs').appendFileSync(${JSON.stringify(marks)}, 'x')`],
      from: 'respawn_command',
    }),
    env: { PATH: process.env['PATH'] ?? '' },
    log: () => undefined,
    sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
  });
  t.teardown(() => {
    ledger.close();
    events.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const seed = (phase: Pending['phase']): void => {
    const now = { atMs: Date.now(), monoMs: mono(), bootId };
    const p: Pending = { ...now, tier: 3, nonce: 'n3', phase, record: null, reason: 'enrollment_missing', signature: 'enrollment_missing' };
    ledger.watchdog.putHealState({
      target: 'bridge',
      tier: 3,
      breaker: 'closed',
      consecutiveFailures: 0,
      bootId,
      pendingVerification: p,
      nonceInFlight: 'n3',
      lastActionAtMs: now.atMs,
      lastActionMonoMs: now.monoMs,
    });
  };
  // A spawned node may take a while to start on a loaded machine: wait for the first mark,
  // then long enough for a second one to show.
  const respawns = async (expectSome = true): Promise<number> => {
    const end = Date.now() + (expectSome ? 8000 : 1500);
    while (!existsSync(marks) && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 700));
    return existsSync(marks) ? readFileSync(marks, 'utf8').length : 0;
  };
  return { engine, ledger, seed, respawns, killed };
}

t.test('killed after the respawn started: not respawned again', async (t) => {
  const s = setup(t);
  s.seed('respawn_intent');
  await s.engine.probe('bridge');
  await s.engine.probe('bridge');
  t.equal(await s.respawns(false), 0, 'no second respawn');
  const p = s.ledger.watchdog.getHealState('bridge')!.pendingVerification as Pending;
  t.equal(p.phase, 'respawned', 'now verifying');
  t.same(
    s.ledger.watchdog.recentHealActions(5, 'bridge').map((a) => a.action),
    ['sigkill-respawn'],
  );
});

t.test('killed after SIGKILL, before the respawn: respawned once, no second kill', async (t) => {
  const s = setup(t);
  s.seed('killed');
  await s.engine.probe('bridge');
  await s.engine.probe('bridge');
  t.equal(await s.respawns(), 1, 'exactly one respawn');
  t.same(s.killed, [], 'no signal');
});

t.test('killed with only the intent written: the step is taken once', async (t) => {
  const s = setup(t);
  s.seed('intent');
  await s.engine.probe('bridge');
  await s.engine.probe('bridge');
  t.equal(await s.respawns(), 1);
  t.equal(s.ledger.watchdog.recentHealActions(5, 'bridge').filter((a) => a.action === 'sigkill-respawn').length, 1);
});
