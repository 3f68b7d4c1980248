// The rules of "is it the watchdog's to heal", on the facts systemd and the unit leave behind.
import t from 'tap';
import type { UnitJudgement } from '@agent-runner/core/health';
import type { EnrollmentRecord } from '@agent-runner/core/identity';
import type { ExitRecord } from '@agent-runner/core/unit';
import { assess, type AssessInput } from '../src/assess.js';
import { parseSystemdShow, systemdStance, type SystemdView } from '../src/systemd.js';

const rec: EnrollmentRecord = {
  unit: 'runner',
  pid: 4242,
  boot_id: 'b',
  starttime_ticks: 9,
  comm: 'node',
  exe: '/usr/bin/node',
  version: '1.0.0',
  started_at: '2026-01-01T00:00:00.000Z',
  started_at_ms: 1_000,
  nonce: 'n1',
  project: 'p',
  argv: ['/usr/bin/node', '/opt/ar/bin.js', 'serve', '--max-rounds', '2'],
  cwd: '/srv/p',
};
const healthy: UnitJudgement = {
  unit: 'runner',
  verdict: 'healthy',
  reasons: [],
  evidence: ['ok'],
  signature: '',
  record: rec,
  alive: true,
};
const stale: UnitJudgement = { ...healthy, verdict: 'unhealthy', reasons: ['heartbeat_stale'], signature: 'heartbeat_stale' };
const missing: UnitJudgement = {
  unit: 'runner',
  verdict: 'unhealthy',
  reasons: ['enrollment_missing'],
  evidence: ['no enrollment'],
  signature: 'enrollment_missing',
  alive: false,
};
const gone: UnitJudgement = { ...missing, reasons: ['identity_gone'], signature: 'identity_gone', record: rec };
const view = (o: Partial<SystemdView> = {}): SystemdView => ({
  unit: 'agent-runner@p.service',
  loadState: 'loaded',
  activeState: 'active',
  subState: 'running',
  result: 'success',
  execMainCode: 0,
  execMainStatus: 0,
  mainPid: 4242,
  nRestarts: 0,
  activeEnterMonoUs: 1_000_000_000,
  unitFileState: 'disabled',
  wantedBy: ['agent-runner@p.target'],
  ...o,
});
const MONO = 1_000_000 + 120_000; // ms: 120 s after ActiveEnterTimestampMonotonic
const sd = (v: SystemdView | undefined, o: Partial<NonNullable<AssessInput['systemd']>> = {}): Pick<AssessInput, 'systemd'> => ({
  systemd: { view: v, nowMonoMs: MONO, inUnit: true, ...o },
});
const base = (j: UnitJudgement, o: Partial<AssessInput> = {}): AssessInput => ({ j, listed: true, inGrace: false, graceMs: 30_000, ...o });
const of = (x: AssessInput): [string, string] => {
  const a = assess(x);
  return [a.stance, a.j.verdict];
};

t.test('systemctl show output', async (t) => {
  const v = parseSystemdShow(
    'u.service',
    'LoadState=loaded\nActiveState=activating\nSubState=auto-restart\nResult=signal\nExecMainCode=2\nExecMainStatus=9\nMainPID=0\nNRestarts=3\nActiveEnterTimestampMonotonic=123\nUnitFileState=disabled\nWantedBy=x.target\nRequiredBy=\n',
  );
  t.same(v, {
    unit: 'u.service',
    loadState: 'loaded',
    activeState: 'activating',
    subState: 'auto-restart',
    result: 'signal',
    execMainCode: 2,
    execMainStatus: 9,
    mainPid: 0,
    nRestarts: 3,
    activeEnterMonoUs: 123,
    unitFileState: 'disabled',
    wantedBy: ['x.target'],
  });
  t.equal(parseSystemdShow('u', 'Failed to connect to bus\n'), undefined, 'not show output');
});

t.test('systemd states mapped to stances', async (t) => {
  const cases: Array<[Partial<SystemdView>, string]> = [
    [{ loadState: 'not-found' }, 'absent'],
    [{ loadState: 'masked' }, 'absent'],
    [{ activeState: 'inactive', wantedBy: [], execMainCode: 0 }, 'unwanted'],
    [{ activeState: 'activating', subState: 'start' }, 'busy'],
    [{ activeState: 'activating', subState: 'auto-restart', result: 'signal' }, 'busy'],
    [{ activeState: 'deactivating', subState: 'stop-sigterm' }, 'busy'],
    [{ activeState: 'reloading' }, 'busy'],
    [{ activeState: 'inactive', result: 'success', execMainCode: 2, execMainStatus: 15 }, 'stopped'],
    [{ activeState: 'inactive', result: 'success', execMainCode: 1, execMainStatus: 0 }, 'stopped'],
    [{ activeState: 'failed', result: 'exit-code', execMainCode: 1, execMainStatus: 69 }, 'stopped'],
    [{ activeState: 'failed', result: 'exit-code', execMainCode: 1, execMainStatus: 77 }, 'stopped'],
    [{ activeState: 'failed', result: 'exit-code', execMainCode: 1, execMainStatus: 78 }, 'stopped'],
    [{ activeState: 'inactive', execMainCode: 0 }, 'stopped'],
    [{ activeState: 'failed', result: 'exit-code', execMainCode: 1, execMainStatus: 1 }, 'dead'],
    [{ activeState: 'failed', result: 'core-dump', execMainCode: 3, execMainStatus: 11, wantedBy: [], unitFileState: 'enabled' }, 'dead'],
    [{ activeState: 'active' }, 'running'],
  ];
  for (const [o, want] of cases) t.equal(systemdStance(view(o)).stance, want, JSON.stringify(o));
});

t.test('under systemd: no action on a unit that is starting, restarting, stopped or absent', async (t) => {
  t.same(
    of(base(gone, sd(view({ activeState: 'activating', subState: 'auto-restart', mainPid: 0, nRestarts: 2 })))),
    ['busy', 'unknown'],
    'SIGKILLed, systemd restarting it: not a heal',
  );
  t.same(of(base(missing, sd(view({ activeState: 'activating', subState: 'start' })))), ['busy', 'unknown'], 'Type=notify before READY');
  t.same(
    of(base(missing, sd(view({ activeState: 'inactive', result: 'success', execMainCode: 2, execMainStatus: 15 })))),
    ['stopped', 'unknown'],
    'systemctl stop',
  );
  t.same(
    of(base(missing, sd(view({ activeState: 'failed', result: 'exit-code', execMainCode: 1, execMainStatus: 78 })))),
    ['stopped', 'unknown'],
    'config broken',
  );
  t.same(of(base(missing, sd(view({ loadState: 'not-found' })))), ['absent', 'unknown'], 'not installed');
  t.same(
    of(base(missing, sd(view(), { nowMonoMs: 1_000_000 + 5_000 }))),
    ['starting', 'unknown'],
    'active 5 s, not enrolled: start-up grace',
  );
  t.match(
    assess(base(missing, sd(view(), { nowMonoMs: 1_000_000 + 5_000 }))).j.evidence.at(-1),
    /active for 5 s, not enrolled yet \(start-up grace 30 s\)/,
  );
  t.same(of(base(missing, sd(view()))), ['judged', 'unhealthy'], 'active 120 s and never enrolled');
  t.same(of(base(stale, sd(view()))), ['judged', 'unhealthy'], "running and hung: the watchdog's");
  t.same(of(base(healthy, sd(view()))), ['judged', 'healthy']);
  t.same(of(base(stale, sd(view(), { inUnit: false }))), ['absent', 'unknown'], "an enrolled process outside the unit is not the unit's");
  t.same(
    of(base(missing, sd(view({ activeState: 'failed', result: 'exit-code', execMainCode: 1, execMainStatus: 1 })))),
    ['dead', 'unhealthy'],
    'failed, not restarted: a human must',
  );
  t.same(of(base(missing, sd(undefined))), ['judged', 'unknown'], 'systemd unreadable: a missing unit is not judged');
  t.same(of(base(stale, sd(undefined))), ['judged', 'unhealthy'], '... a hung live one still is');
  t.same(of(base(stale, { ...sd(view()), listed: false })), ['absent', 'unknown'], '[watchdog] targets restricts');
});

const exit = (o: Partial<ExitRecord>): ExitRecord => ({
  unit: 'runner',
  pid: 4242,
  nonce: 'n1',
  exit_code: 0,
  reason: 'max_rounds',
  exited_at: '2026-01-01T00:10:00.000Z',
  exited_at_ms: 600_000,
  argv: rec.argv!,
  cwd: '/srv/p',
  ...o,
});

t.test('without systemd: the exit record decides', async (t) => {
  const stopped: Array<[ExitRecord['reason'], number]> = [
    ['max_rounds', 0],
    ['max_rounds', 77],
    ['stop_requested', 0],
    ['agent_done', 0],
    ['signal', 0],
    ['crash_loop', 69],
    ['config_broken', 78],
    ['transient_error', 0],
  ];
  for (const [reason, code] of stopped)
    t.same(of(base(missing, { exit: exit({ reason, exit_code: code }) })), ['stopped', 'unknown'], `${reason} (${code}): on purpose`);
  const restart = assess(base(missing, { exit: exit({ reason: 'restart_marker', exit_code: 75 }) }));
  t.same(
    [restart.stance, restart.j.verdict, restart.respawn],
    ['restart', 'unknown', { argv: rec.argv, cwd: '/srv/p', from: 'exit record' }],
    '75: respawn now, with its argv',
  );
  const crashed = assess(base(missing, { exit: exit({ reason: 'error', exit_code: 70 }) }));
  t.same(
    [crashed.stance, crashed.j.verdict, crashed.respawn?.argv],
    ['judged', 'unhealthy', rec.argv],
    'error: crashed, respawned as it ran',
  );
  t.same(
    of(base(missing, { exit: exit({}), lastRespawnAtMs: 700_000, inGrace: false })),
    ['judged', 'unhealthy'],
    'a record older than the last respawn tells nothing about the respawned one',
  );
  t.same(
    of(base(gone, { exit: exit({ nonce: 'older', exited_at_ms: 500 }) })),
    ['judged', 'unhealthy'],
    "a stale enrollment (SIGKILL) and an older incarnation's record: crashed",
  );
  t.same(
    of(base(gone, { exit: exit({ nonce: 'respawn-99', reason: 'config_broken', exit_code: 78 }) })),
    ['stopped', 'unknown'],
    "a record written after the stale enrollment's start (a respawn that exited 78 before enrolling): on purpose",
  );
  t.same(of(base(gone, { exit: exit({}) })), ['stopped', 'unknown'], '... of the same incarnation: its record counts');
  const killed = assess(base(gone, {}));
  t.same(killed.respawn, { argv: rec.argv, cwd: '/srv/p', from: 'enrollment' }, "a SIGKILLed one comes back with its enrollment's argv");
  t.same(of(base(missing, { inGrace: true })), ['starting', 'unknown'], 'no record yet within the grace');
  t.same(of(base(missing, { cleanStop: 'stop requested' })), ['stopped', 'unknown'], 'a stop request without a record');
  t.same(of(base(missing, {})), ['judged', 'unhealthy'], 'nothing says it meant to stop: crashed');
  t.same(assess(base(missing, { lastSeen: rec })).respawn?.from, 'last seen', 'argv of the last incarnation seen alive');
  t.same(of(base(stale, {})), ['judged', 'unhealthy'], 'alive and hung');
});
