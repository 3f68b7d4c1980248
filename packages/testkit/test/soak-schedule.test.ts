// The soak's seeded schedule and its data-driven fault catalogue.
import t from 'tap';
import { ALARMS } from '@agent-runner/core/alarms';
import { SOAK_SETTINGS } from '../src/soak/config.js';
import { FAULTS, type FaultKind } from '../src/soak/faults.js';
import { CI_PROFILE, LONG_PROFILE, makeSchedule, rng } from '../src/soak/schedule.js';

t.test('the same seed gives the same schedule; another seed another order', async (t) => {
  t.same(makeSchedule(42, CI_PROFILE), makeSchedule(42, CI_PROFILE));
  t.notSame(
    makeSchedule(42, CI_PROFILE).episodes.map((e) => e.kind),
    makeSchedule(43, CI_PROFILE).episodes.map((e) => e.kind),
  );
  const r = rng(7);
  const xs = Array.from({ length: 1000 }, r);
  t.ok(
    xs.every((x) => x >= 0 && x < 1),
    'uniform in [0, 1)',
  );
  t.ok(Math.abs(xs.reduce((a, b) => a + b, 0) / xs.length - 0.5) < 0.05, 'mean about 0.5');
});

t.test('every fault of the profile is scheduled once per count, on its track', async (t) => {
  for (const profile of [CI_PROFILE, LONG_PROFILE]) {
    const s = makeSchedule(1, profile);
    const count = (kind: FaultKind): number =>
      s.episodes.filter((e) => e.kind === kind).length + s.windows.filter((w) => w.kind === kind).length;
    for (const [kind, n] of Object.entries(profile.counts) as Array<[FaultKind, number]>)
      t.equal(count(kind), n, `${profile.name}: ${kind} x${n}`);
    t.ok(s.episodes.every((e) => FAULTS[e.kind].track === 'main') && s.windows.every((w) => FAULTS[w.kind].track === 'receiver'));
    t.ok(
      s.episodes.every((e) => e.gapRounds >= profile.gap[0] && e.gapRounds <= profile.gap[1]),
      'gaps in range',
    );
    t.ok(
      s.windows.every((w) => w.duration_s >= 30 && w.duration_s <= 90 && w.episode < s.episodes.length),
      'receiver windows of 30-90 s, over scheduled faults',
    );
  }
  const faults = Object.values(LONG_PROFILE.counts).reduce((a, b) => a + b, 0);
  t.ok(faults >= 500, `the long variant injects ${faults} faults (issue 14: at least 500)`);
});

t.test('the catalogue: alarms are real causes, agent faults carry a scenario, allowances follow the settings', async (t) => {
  for (const [kind, spec] of Object.entries(FAULTS)) {
    if (spec.alarm !== null) t.ok(spec.alarm in ALARMS, `${kind}: ${spec.alarm} is a cause in core/alarms`);
  }
  t.same(
    Object.entries(FAULTS)
      .filter(([, s]) => s.alarm !== null)
      .map(([k, s]) => `${k}:${s.alarm}`),
    ['auth_outage:auth_paused', 'crash_loop:crash_loop', 'disk_full:disk_full', 'config_broken:config_broken'],
  );
  t.same(
    Object.entries(FAULTS)
      .filter(([, s]) => s.operator !== null)
      .map(([k]) => k),
    ['auth_outage', 'operator_pause', 'config_broken'],
    'the soak acts as the operator only for these',
  );
  const a = { settings: SOAK_SETTINGS, restartSec: 10 };
  t.equal(FAULTS.auth_outage.allowance({ duration_s: 100 }, a), 100 + SOAK_SETTINGS.auth_probe_interval_s + 1);
  t.equal(FAULTS.sigkill_serve.allowance({ at_s: 2 }, a), 2 + 10 + 5, 'the round so far, RestartSec, start-up');
  t.ok(FAULTS.hang.allowance({}, a) > SOAK_SETTINGS.inactivity_timeout_s + SOAK_SETTINGS.kill_grace_s);
  t.equal(FAULTS.sigkill_bridge.allowance({}, a), 0, 'a bridge kill costs the rounds nothing');
  t.ok(
    FAULTS.crash_loop.allowance({}, a) > SOAK_SETTINGS.crash_loop.cooldown_s,
    'a crash loop costs its cool-down before the half-open try',
  );
});
