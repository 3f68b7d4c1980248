import t from 'tap';
import { judgeUnit, type UnitEvidence } from '@agent-runner/core/health';
import type { EnrollmentRecord } from '@agent-runner/core/identity';
import { parseCgroupUnit, planRespawn } from '../src/respawn.js';
import { cooldownLeftMs, elapsedMs, nextTier } from '../src/tiers.js';
import type { HealState } from '@agent-runner/core/ledger';

const NOW = 1_800_000_000_000;
const rec: EnrollmentRecord = {
  unit: 'bridge',
  pid: 4242,
  boot_id: 'b',
  starttime_ticks: 9,
  comm: 'node',
  exe: '/usr/bin/node',
  version: '1.2.0',
  started_at: new Date(NOW - 600_000).toISOString(),
  started_at_ms: NOW - 600_000,
  nonce: 'n1',
  project: 'p',
};
const ev = (o: Partial<UnitEvidence> = {}): UnitEvidence => ({
  unit: 'bridge',
  expected: true,
  enrollment: { record: rec },
  identity: { verdict: 'same', reason: 'ok' },
  heartbeat: { unit: 'bridge', pid: 4242, nonce: 'n1', written_at: '', written_at_ms: NOW - 5_000, age_ms: 5_000 },
  installedVersion: '1.2.0',
  staleAfterMs: 120_000,
  nowMs: NOW,
  ...o,
});

t.test('judgeUnit', async (t) => {
  t.equal(judgeUnit(ev()).verdict, 'healthy');
  t.same(judgeUnit(ev({ enrollment: { problem: 'missing', detail: 'x' } })).reasons, ['enrollment_missing']);
  t.equal(judgeUnit(ev({ expected: false, enrollment: { problem: 'missing', detail: 'x' } })).verdict, 'unknown', 'not expected: unknown');
  t.equal(judgeUnit(ev({ enrollment: { problem: 'malformed', detail: 'x' } })).verdict, 'unknown', 'malformed record: unknown');
  for (const v of ['gone', 'recycled', 'zombie', 'other-boot'] as const) {
    const j = judgeUnit(ev({ identity: { verdict: v, reason: v } }));
    t.same([j.verdict, j.reasons, j.alive], ['unhealthy', ['identity_gone'], false], v);
  }
  t.equal(judgeUnit(ev({ identity: { verdict: 'unknown', reason: 'EACCES' } })).verdict, 'unknown', 'identity unknown: never act');
  const stale = judgeUnit(
    ev({ heartbeat: { unit: 'bridge', pid: 4242, nonce: 'n1', written_at: '', written_at_ms: NOW - 121_000, age_ms: 121_000 } }),
  );
  t.same([stale.verdict, stale.signature], ['unhealthy', 'heartbeat_stale']);
  const foreign = judgeUnit(ev({ heartbeat: { unit: 'bridge', pid: 1, nonce: 'old', written_at: '', written_at_ms: NOW, age_ms: 0 } }));
  t.equal(foreign.verdict, 'unhealthy', 'a fresh heartbeat of another incarnation does not count (enrolled 600 s ago)');
  t.equal(
    judgeUnit(
      ev({ staleAfterMs: 900_000, heartbeat: { unit: 'bridge', pid: 1, nonce: 'old', written_at: '', written_at_ms: NOW, age_ms: 0 } }),
    ).verdict,
    'healthy',
    'the enrollment time stands in',
  );
  t.same(judgeUnit(ev({ installedVersion: '1.10.0' })).reasons, ['version_outdated'], 'numeric version compare');
  t.equal(judgeUnit(ev({ installedVersion: '1.1.9' })).verdict, 'healthy', 'newer than installed is fine');
  t.equal(judgeUnit(ev({ installedVersion: undefined })).verdict, 'unknown', 'installed version unreadable: unknown');
  t.same(
    judgeUnit(ev({ installedVersion: undefined, heartbeat: undefined, staleAfterMs: 1000 })).verdict,
    'unhealthy',
    'unhealthy outweighs unknown',
  );
  t.equal(
    judgeUnit(
      ev({ heartbeat: { unit: 'bridge', pid: 4242, nonce: 'n1', written_at: '', written_at_ms: NOW + 3_600_000, age_ms: -3_600_000 } }),
    ).verdict,
    'healthy',
    'clock stepped back: fresh',
  );
  const old = { heartbeat: { unit: 'bridge', pid: 4242, nonce: 'n1', written_at: '', written_at_ms: NOW - 121_000, age_ms: 121_000 } };
  const frozen = judgeUnit(ev({ ...old, procState: 'T' }));
  t.same([frozen.verdict, frozen.signature], ['unhealthy', 'heartbeat_stale+process_stopped'], 'stale and stopped');
  t.equal(judgeUnit(ev({ ...old, procState: 't' })).signature, 'heartbeat_stale+process_stopped', 'tracing stop too');
  t.equal(judgeUnit(ev({ procState: 'T' })).verdict, 'healthy', 'stopped but its heartbeat fresh: not judged yet (a debugger pause)');
  const full = { path: '/var/lib/x', free_bytes: 1 << 20, total_bytes: 1 << 30, used_pct: 99.9 };
  const disk = judgeUnit(ev({ ...old, fullDisk: full }));
  t.same([disk.verdict, disk.reasons], ['unknown', ['disk_full']], "stale on a full disk: not the unit's fault");
  t.match(disk.evidence.at(-1), /\/var\/lib\/x is full \(1 MiB free\)/);
  t.equal(judgeUnit(ev({ ...old, fullDisk: full, procState: 'T' })).verdict, 'unhealthy', 'stopped is stopped, full disk or not');
  t.same(
    judgeUnit(ev({ ...old, fullDisk: full, installedVersion: '1.3.0' })).reasons,
    ['version_outdated', 'disk_full'],
    'a version is still a version',
  );
  t.equal(disk.fullDisk, true, 'the caller learns the disk was full');
  t.equal(
    judgeUnit(ev({ ...old, fullDiskSeenAtMs: NOW - 1_000 })).verdict,
    'healthy',
    'space back a second ago: the heartbeat it could not write is not stale yet',
  );
  t.equal(judgeUnit(ev({ ...old, fullDiskSeenAtMs: NOW - 121_000 })).verdict, 'unhealthy', 'space back a threshold ago: stale');
  t.same(judgeUnit(ev({ ...old, fullDisk: full, fullDiskSeenAtMs: NOW })).reasons, ['disk_full'], 'still full: judged as full');
});

t.test('cgroup parsing and respawn plan', async (t) => {
  t.same(parseCgroupUnit('0::/system.slice/system-agent\\x2drunner\\x2dbridge.slice/agent-runner-bridge@demo.service\n'), {
    unit: 'agent-runner-bridge@demo.service',
    user: false,
  });
  t.same(parseCgroupUnit('0::/user.slice/user-1000.slice/user@1000.service/app.slice/agent-runner@demo.service\n'), {
    unit: 'agent-runner@demo.service',
    user: true,
  });
  t.equal(parseCgroupUnit('0::/user.slice/user-1000.slice/session-3.scope\n'), undefined, 'a login session is no service');
  t.equal(parseCgroupUnit('0::/\n'), undefined);
  t.same(parseCgroupUnit('12:cpu:/\n1:name=systemd:/system.slice/x.service\n'), { unit: 'x.service', user: false }, 'cgroup v1');
  const base = {
    configuredUnit: 'agent-runner-bridge@demo.service',
    selfUnderSystemd: false,
    command: { argv: ['node', 'x', 'serve', '--max-rounds', '2'], cwd: '/srv/p', from: 'enrollment' },
  };
  t.equal(
    planRespawn({ ...base, targetCgroup: { unit: 'agent-runner-bridge@demo.service', user: true } }).method,
    'systemd',
    'its unit restarts it',
  );
  t.same(
    planRespawn({ ...base, targetCgroup: { unit: 'gitlab-runner.service', user: false } }),
    { method: 'spawn', argv: base.command.argv, cwd: '/srv/p', why: 'its enrollment command line' },
    'another service is not its unit: spawned as it ran',
  );
  t.equal(planRespawn({ ...base, targetCgroup: undefined, selfUnderSystemd: true }).method, 'systemd', 'under systemd, never a spawn');
  t.equal(planRespawn({ ...base, targetCgroup: undefined, command: undefined }).method, 'none');
});

t.test('tiers and clocks', async (t) => {
  t.equal(nextTier(0, true), 1);
  t.equal(nextTier(0, false), 3, 'nothing to signal: respawn');
  t.equal(nextTier(1, true), 2);
  t.equal(nextTier(1, false), 3);
  t.equal(nextTier(2, true), 3);
  t.equal(nextTier(3, true), 3);
  t.equal(nextTier(0, true, 'heartbeat_stale+process_stopped'), 3, 'a stopped process: T3 at once');
  t.equal(nextTier(1, true, 'heartbeat_stale+process_stopped+version_outdated'), 3);
  t.equal(nextTier(1, true, 'version_outdated'), 1, 'a version alone: only ever T1');
  t.equal(nextTier(2, true, 'version_outdated'), 1);
  t.equal(nextTier(1, true, 'heartbeat_stale+version_outdated'), 2, 'stale and outdated: the ladder');
  const then = { atMs: 1000, monoMs: 50, bootId: 'a' };
  t.equal(elapsedMs(then, { atMs: 999_000, monoMs: 550, bootId: 'a' }), 500, 'same boot: monotonic, immune to wall steps');
  t.equal(elapsedMs(then, { atMs: 61_000, monoMs: 5, bootId: 'b' }), 60_000, 'after a reboot: wall clock');
  const st = { lastActionAtMs: 1000, lastActionMonoMs: 50, bootId: 'a' } as HealState;
  const s = { cooldownMs: 1000 } as Parameters<typeof cooldownLeftMs>[2];
  t.equal(cooldownLeftMs(st, { atMs: 0, monoMs: 550, bootId: 'a' }, s), 500);
  t.equal(cooldownLeftMs(st, { atMs: 0, monoMs: 1050, bootId: 'a' }, s), 0);
});
