// endOrphanGroup on real process groups left behind by a SIGKILLed parent (a stand-in for
// serve), identified by the leader's pid and start time as the ledger records them.
import t, { type Test } from 'tap';
import { spawn } from 'node:child_process';
import { readProcStat } from '@agent-runner/core/identity';
import { endOrphanGroup, listGroup, liveMembers } from '../src/process-group.js';
import { until } from '@agent-runner/testkit/until';
import { fixture, kill, reap } from './fixtures/util.js';

const alive = (pid: number): boolean => {
  const st = readProcStat(pid);
  return st !== undefined && st.state !== 'Z';
};

/** Starts `script` under the stand-in, waits for "started", SIGKILLs the stand-in. */
async function orphan(t: Test, script: string, env: Record<string, string> = {}) {
  const standin = spawn(fixture('serve-standin.sh'), [fixture(script)], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  standin.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  const gone = new Promise((res) => standin.on('exit', res));
  await until(
    () => `the agent to start (${out})`,
    () => /agent \d+/.test(out) && out.includes('started'),
  );
  const pgid = Number(/agent (\d+)/.exec(out)?.[1]);
  const pids = listGroup(pgid).map((m) => m.pid);
  t.teardown(() => {
    reap(pgid);
    for (const p of pids) if (alive(p)) process.kill(p, 'SIGKILL');
  });
  const leader = readProcStat(pgid);
  standin.kill('SIGKILL');
  await gone;
  return { pgid, starttimeTicks: leader?.starttimeTicks ?? -1, pids, standinPid: standin.pid as number };
}

t.test('a group that outlived its serve, with a setsid tool command, is proven by its leader and ended', async (t) => {
  const g = await orphan(t, 'setsid-tool.sh');
  await until('the leader to be re-parented', () => readProcStat(g.pgid)?.ppid !== g.standinPid);
  // "started" may be printed before the background child has called setsid and exec'd.
  const escapedOne = () => listGroup(g.pgid).find((m) => m.session !== g.pgid && m.cmdline === 'sleep 300');
  await until('the tool command to leave the session', () => escapedOne() !== undefined);
  const escaped = escapedOne();
  const r = await endOrphanGroup({ pgid: g.pgid, starttimeTicks: g.starttimeTicks }, { kill, graceMs: 2000 });
  t.equal(r.found, true);
  t.equal(r.signalled, true);
  t.equal(r.killSent, false, 'SIGTERM was enough');
  t.ok(
    r.members.some((m) => m.pid === escaped?.pid),
    'the setsid child was among the members',
  );
  t.same(r.remaining, []);
  await until('every process of the round to be gone', () => g.pids.every((p) => !alive(p)));
});

t.test('a leader pid with another start time is not the round: nothing is signalled', async (t) => {
  const g = await orphan(t, 'setsid-tool.sh');
  for (const starttimeTicks of [g.starttimeTicks - 1, g.starttimeTicks + 1]) {
    const r = await endOrphanGroup({ pgid: g.pgid, starttimeTicks }, { kill, graceMs: 200 });
    t.same(r, { found: false, signalled: false, killSent: false, members: [], remaining: [] });
  }
  t.ok(g.pids.every(alive), 'the processes live on');
});

t.test('the leader gone, a member started after it proves the group; one started before does not', async (t) => {
  const g = await orphan(t, 'orphan.sh');
  await until('the leader to exit', () => !alive(g.pgid));
  const [member] = liveMembers(g.pgid);
  t.ok(member && member.pgrp === g.pgid, 'a member of its group lives on');
  const early = await endOrphanGroup({ pgid: g.pgid, starttimeTicks: (member?.starttimeTicks ?? 0) + 1 }, { kill, graceMs: 200 });
  t.equal(early.found, false, 'a member older than the recorded leader is no proof');
  t.ok(alive(member?.pid ?? 0));
  const r = await endOrphanGroup({ pgid: g.pgid, starttimeTicks: g.starttimeTicks }, { kill, graceMs: 2000 });
  t.match(r, { found: true, signalled: true, killSent: false, remaining: [] });
  await until('the member to be gone', () => !alive(member?.pid ?? 0));
});

t.test('members that ignore SIGTERM get SIGKILL after graceMs', async (t) => {
  const g = await orphan(t, 'stubborn.sh');
  await until('leader, child and its sleep', () => liveMembers(g.pgid).length >= 3);
  const t0 = performance.now();
  const r = await endOrphanGroup({ pgid: g.pgid, starttimeTicks: g.starttimeTicks }, { kill, graceMs: 300 });
  t.match(r, { found: true, signalled: true, killSent: true, remaining: [] });
  t.ok(performance.now() - t0 >= 300, 'waited the grace first');
  await until('every process of the group to be gone', () => g.pids.every((p) => !alive(p)));
});

t.test('a group that is gone is not found; pgid <= 1 is refused', async (t) => {
  const g = await orphan(t, 'orphan.sh', { ORPHAN_SLEEP: '0.2' });
  await until('the round to end by itself', () => liveMembers(g.pgid).length === 0);
  t.same(await endOrphanGroup({ pgid: g.pgid, starttimeTicks: g.starttimeTicks }, { kill, graceMs: 100 }), {
    found: false,
    signalled: false,
    killSent: false,
    members: [],
    remaining: [],
  });
  await t.rejects(endOrphanGroup({ pgid: 1, starttimeTicks: 0 }, { kill, graceMs: 1 }), { code: 'ERR_AR_INTERNAL' });
  await t.rejects(endOrphanGroup({ pgid: 0, starttimeTicks: 0 }, { kill, graceMs: 1 }), { code: 'ERR_AR_INTERNAL' });
});
