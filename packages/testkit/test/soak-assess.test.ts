// The soak's bookkeeping: attribution of notifications to faults, the union of allowance
// windows, alarm phases, systemd time spans, and the rows of a small synthetic run.
import t from 'tap';
import type { Delivery } from '../src/receivers.js';
import { alarmOf, allowanceWindows, assess, attribute, okWork, rssGrowth, unionMs, type Facts } from '../src/soak/assess.js';
import { SOAK_SETTINGS } from '../src/soak/config.js';
import type { EpisodeRecord, SoakRun } from '../src/soak/driver.js';
import { parseSystemdSeconds, reactions } from '../src/soak/probe.js';
import type { SoakEvent } from '../src/soak/feed.js';
import { CI_PROFILE } from '../src/soak/schedule.js';

const ep = (
  index: number,
  kind: EpisodeRecord['kind'],
  startMs: number,
  allowanceS: number,
  recoveredMs: number | null,
): EpisodeRecord => ({ index, kind, params: {}, startMs, endMs: startMs, allowanceS, recoveredMs, notes: [] });

t.test('unionMs merges overlapping windows and clips to the span', async (t) => {
  t.equal(
    unionMs(
      [
        [0, 10],
        [5, 20],
        [30, 40],
      ],
      0,
      100,
    ),
    30,
  );
  t.equal(
    unionMs(
      [
        [0, 10],
        [5, 20],
        [30, 40],
      ],
      8,
      35,
    ),
    17,
  );
  t.equal(unionMs([], 0, 100), 0);
});

t.test('throughput counts shares of round cycles; a fault window opens at the cycle it hits', async (t) => {
  // Rounds of 600 ms after a 400 ms restart delay: cycle i ends at i s.
  const cycles = (n: number, cls = (_i: number): string => 'ok'): SoakEvent[] =>
    Array.from({ length: n }, (_, k) => k + 1).flatMap((i) => [
      { kind: 'round_start', ts: '', unit: 'runner', round: i, atMs: i * 1000 - 600 },
      { kind: 'round_end', ts: '', unit: 'runner', round: i, atMs: i * 1000, classification: cls(i) },
    ]);
  const steady = cycles(20);
  t.equal(okWork(steady, [], 2000, 12_000), 10, 'ten whole cycles');
  t.ok(Math.abs(okWork(steady, [], 2500, 12_300) - 9.8) < 1e-9, 'edges inside cycles: their shares (counting ends would say 10)');
  t.equal(okWork(steady, [[4000, 6000]], 2000, 12_000), 8, 'time in a window is left out');

  // A fault hits round 5 at its start (4.4 s) with a 1.6 s allowance; its restart delay (4.0-4.4 s) is part of its cost.
  const faulted = cycles(20, (i) => (i === 5 || i === 6 ? 'crash' : 'ok'));
  const windows = allowanceWindows([ep(0, 'crash', 4400, 1.6, 6000)], faulted);
  t.same(windows, [[4000, 6000]]);
  t.equal(
    okWork(faulted, windows, 2000, 12_000),
    okWork(steady, windows, 2000, 12_000),
    'the faulted project matches the control outside the window',
  );
  t.same(allowanceWindows([ep(1, 'sigkill_bridge', 4400, 0, 4400)], faulted), [], 'no allowance, no window');
  t.same(allowanceWindows([ep(2, 'crash', 30_000, 2, null)], faulted), [[30_000, 32_000]], 'after a pause the window opens at the fault');
});

t.test('a notification belongs to the latest fault whose span holds it', async (t) => {
  const eps = [ep(0, 'auth_outage', 1000, 100, 90_000), ep(1, 'crash', 200_000, 4, 203_000)];
  t.equal(attribute(eps, 50_000)?.index, 0);
  t.equal(attribute(eps, 90_000 + 29_000)?.index, 0, 'up to 30 s after the recovery');
  t.equal(attribute(eps, 150_000), undefined, 'between faults: none');
  t.equal(attribute(eps, 201_000)?.index, 1);
});

t.test('alarm phases from the payload; a bare alarm-cause kind counts as an alarm', async (t) => {
  const d = (kind: string, payload?: Record<string, unknown>): Delivery => ({
    atMs: 0,
    path: '/hook/soak',
    status: 200,
    title: '',
    body: '',
    priority: '',
    kind,
    redelivery: false,
    ...(payload ? { payload } : {}),
  });
  t.same(alarmOf(d('auth_paused', { cause: 'auth_paused', phase: 'recovery' })), { cause: 'auth_paused', phase: 'recovery' });
  t.same(alarmOf(d('auth_paused')), { cause: 'auth_paused', phase: 'alarm' });
  t.equal(alarmOf(d('heal_action')), undefined);
});

t.test('systemd time spans and the reactions summary', async (t) => {
  t.equal(parseSystemdSeconds('10s'), 10);
  t.equal(parseSystemdSeconds('1min 30s'), 90);
  t.equal(parseSystemdSeconds('100ms'), 0.1);
  const e = (kind: string, atMs: number, extra: Record<string, unknown> = {}): SoakEvent => ({
    kind,
    ts: new Date(atMs).toISOString(),
    unit: 'watchdog',
    atMs,
    ...extra,
  });
  t.equal(
    reactions(
      [
        e('round_end', 1),
        e('heal_action', 2, { tier: 3, action: 'sigkill_respawn' }),
        e('heal_action', 3, { tier: 3, action: 'sigkill_respawn' }),
        e('heal_action', 99, { tier: 1 }),
      ],
      0,
      10,
    ),
    'watchdog:heal_action T3(sigkill_respawn)x2',
  );
});

t.test('a clean synthetic run passes every row; a lost alarm, a stray notification and a stall fail theirs', async (t) => {
  const t0 = 1_000_000;
  const rounds: SoakEvent[] = [];
  const calm: SoakEvent[] = [];
  for (let i = 1; i <= 100; i++) {
    const at = t0 + i * 1000;
    for (const [arr, unit] of [
      [rounds, 'runner'],
      [calm, 'runner'],
    ] as const) {
      arr.push(
        { kind: 'round_start', ts: '', unit, round: i, atMs: at - 500 },
        { kind: 'round_end', ts: '', unit, round: i, atMs: at, classification: 'ok' },
      );
    }
  }
  const auth = { ...ep(0, 'auth_outage', t0 + 50_000, 20, t0 + 70_000), endMs: t0 + 65_000 };
  const rowsOf = rounds
    .filter((e) => e.kind === 'round_end')
    .map((e) => ({
      round: e.round as number,
      status: 'finished' as const,
      classification: 'ok',
      startedAtMs: e.atMs - 500,
      interruptReason: null,
    }));
  const facts: Facts = {
    soak: { integrity: ['ok'], rounds: rowsOf, outbox: [], tornLines: [], eventLines: 200 },
    calm: { integrity: ['ok'], rounds: rowsOf, outbox: [], tornLines: [], eventLines: 200 },
    git: { head: 'h', lostCommits: [], uncommitted: [], unknownStashes: [], status: '' },
    names: { soak: 'soak', calm: 'calm' },
  };
  const hook = (kind: string, phase: string, atMs: number, key: string): Delivery => ({
    atMs,
    path: '/hook/soak',
    key,
    status: 200,
    title: `soak@h: ${phase}`,
    body: '',
    priority: 'critical',
    kind,
    payload: { cause: kind, phase, alert_id: 1 },
    redelivery: false,
  });
  const state = { active: 'active', sub: 'running', result: 'success', mainPid: 1, status: '0', restarts: 0 };
  const units = { serve: state, bridge: state, watchdog: state, monitor: state };
  const run: SoakRun = {
    schedule: { seed: 1, profile: 'ci', episodes: [], windows: [] },
    profile: CI_PROFILE,
    allowance: { settings: SOAK_SETTINGS, restartSec: 10 },
    startedAtMs: t0 - 10_000,
    t0Ms: t0,
    t1Ms: t0 + 100_000,
    episodes: [auth],
    windows: [],
    actions: [],
    unitsAtEnd: { soak: units, calm: units },
    rss: [
      {
        project: 'soak',
        role: 'serve',
        processes: [
          {
            pid: 1,
            firstSeenMs: t0,
            samples: [
              [t0, 90],
              [t0 + 30_000, 100],
              [t0 + 90_000, 105],
            ],
          },
        ],
      },
    ],
    webhook: [
      hook('auth_paused', 'alarm', t0 + 51_000, 'alarm:1:raised:hook'),
      hook('auth_paused', 'recovery', t0 + 71_000, 'alarm:1:cleared:hook'),
    ],
    ntfy: [
      {
        atMs: t0 + 51_000,
        path: '/soak-alarms',
        status: 200,
        title: '[critical] soak@h: alarm',
        body: '',
        priority: '5',
        kind: '',
        redelivery: false,
      },
      {
        atMs: t0 + 71_000,
        path: '/soak-alarms',
        status: 200,
        title: '[critical] soak@h: recovery',
        body: '',
        priority: '5',
        kind: '',
        redelivery: false,
      },
    ],
    events: { soak: rounds, calm },
    journal: [],
  };
  const good = assess(run, facts);
  t.same(
    good.rows.filter((r) => !r.pass).map((r) => `${r.check}: ${r.actual} ${r.details.join('; ')}`),
    [],
    'every row passes',
  );
  t.ok(Math.abs(good.figures.throughputRatio - 1) < 0.05, `throughput ${good.figures.throughputRatio}`);

  const bad = assess(
    {
      ...run,
      webhook: [
        run.webhook[0] as Delivery,
        { ...(run.webhook[0] as Delivery), kind: 'heal_action', payload: {}, key: 'heal:x:hook', title: 'T3', atMs: t0 + 10_000 },
      ],
      episodes: [{ ...auth, recoveredMs: null }],
      actions: [{ atMs: t0, episode: -1, what: 'intervention: systemctl start', ok: true, detail: 'serve inactive' }],
    },
    facts,
  );
  const failed = bad.rows.filter((r) => !r.pass).map((r) => r.check);
  t.ok(failed.includes('every human-needing fault: exactly one alarm and one recovery at the receiver'), 'the missing recovery');
  t.ok(failed.includes('benign faults (and no fault): no notification'), 'the heal notification outside any fault');
  t.ok(failed.includes('no work stalled beyond what a fault legitimately demands'), 'work that never resumed');
  t.ok(failed.includes('manual interventions beyond the re-login and the config fix'));
});

t.test('RSS growth: floor to floor from the settled start of the process at the end; too short a life is not judged', async (t) => {
  const s = (
    pid: number,
    at: number,
    pts: Array<[number, number, number?]>,
  ): { pid: number; firstSeenMs: number; samples: Array<[number, number, number?]> } => ({ pid, firstSeenMs: at, samples: pts });
  const g = rssGrowth({
    project: 'p',
    role: 'bridge',
    processes: [
      s(1, 0, [
        [0, 50],
        [120_000, 100],
        [290_000, 130],
      ]),
    ],
  });
  t.equal(g.growth?.toFixed(2), '0.30');
  // A spike mid-allocation at either end is not growth; a raised floor is.
  const spiky = rssGrowth({
    project: 'p',
    role: 'monitor',
    processes: [
      s(1, 0, [
        [120_000, 120],
        [130_000, 100],
        [380_000, 100],
        [440_000, 140],
        [450_000, 101],
      ]),
    ],
  });
  t.equal(spiky.growth?.toFixed(2), '0.01');
  const leak = rssGrowth({
    project: 'p',
    role: 'monitor',
    processes: [
      s(1, 0, [
        [120_000, 100],
        [130_000, 100],
        [390_000, 120],
        [450_000, 125],
      ]),
    ],
  });
  t.equal(leak.growth?.toFixed(2), '0.20');
  t.notMatch(leak.text, /RssAnon/, 'no RssAnon in the samples: none reported');
  const own = rssGrowth({
    project: 'p',
    role: 'monitor',
    processes: [
      s(1, 0, [
        [120_000, 100 * 2 ** 20, 20 * 2 ** 20],
        [390_000, 110 * 2 ** 20, 21 * 2 ** 20],
        [450_000, 120 * 2 ** 20, 22 * 2 ** 20],
      ]),
    ],
  });
  t.match(own.text, /its own \(RssAnon\) 20\.0 MiB -> 21\.0 MiB/, "the process's own share beside VmRSS");
  const restarted = rssGrowth({
    project: 'p',
    role: 'bridge',
    processes: [
      s(1, 0, [
        [0, 50],
        [40_000, 100],
      ]),
      s(2, 100_000, [
        [100_000, 60],
        [220_000, 90],
        [260_000, 95],
      ]),
    ],
  });
  t.equal(restarted.growth?.toFixed(3), (95 / 90 - 1).toFixed(3));
  t.match(restarted.text, /1 restart\(s\); pid 2 judged/);
  t.equal(
    rssGrowth({
      project: 'p',
      role: 'serve',
      processes: [
        s(3, 0, [
          [0, 50],
          [20_000, 60],
        ]),
      ],
    }).growth,
    undefined,
  );
  // Warm-up is not growth: the heap of a busy process grows for its first minutes.
  t.equal(
    rssGrowth({
      project: 'p',
      role: 'serve',
      processes: [
        s(4, 0, [
          [0, 60],
          [33_000, 64.7],
          [129_000, 69.5],
          [290_000, 70.4],
          [424_000, 74.6],
        ]),
      ],
    }).growth?.toFixed(3),
    (74.6 / 69.5 - 1).toFixed(3),
    'judged from the 2-minute floor, not the 30-second one',
  );
});
