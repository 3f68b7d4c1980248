import t from 'tap';
import { spawnAgent, type AgentHandle } from '../src/agent-process.js';
import { killGroup, listGroup, liveMembers, liveWorkers } from '../src/process-group.js';
import { until } from '@agent-runner/testkit/until';
import { collect, fixture, kill, psGroup, reap } from './fixtures/util.js';

const env = { ...process.env } as Record<string, string>;

async function start(script: string, extraEnv: Record<string, string> = {}, terminal: 'pipe' | 'pty' = 'pipe') {
  const h: AgentHandle = await spawnAgent({
    argv: [fixture(script)],
    cwd: fixture('.'),
    env: { ...env, ...extraEnv },
    delivery: { mode: 'stdin' },
    prompt: '',
    terminal,
  });
  const out = collect(h);
  t.teardown(() => reap(h.pgid));
  return { h, out };
}

t.test('listGroup sees children and grandchildren, as ps does', async (t) => {
  const { h, out } = await start('tree.sh');
  await until('the tree to start', () => out.text().includes('started') && psGroup(h.pgid).length >= 5);
  const members = liveMembers(h.pgid);
  const viaPs = psGroup(h.pgid)
    .map((p) => p.pid)
    .sort((a, b) => a - b);
  t.same(
    members.map((m) => m.pid),
    viaPs,
    'same pids as ps',
  );
  t.ok(
    members.some((m) => m.pid === h.pid),
    'leader listed',
  );
  t.equal(members.filter((m) => m.cmdline === 'sleep 300').length, 3, 'three sleeps');
  t.ok(members.every((m) => m.pgrp === h.pgid && m.session === h.pgid));
  await killGroup(h.pgid, { graceMs: 2000, kill });
});

t.test('zombies are listed but flagged, and never count as live', async (t) => {
  const { h } = await start('zombie.sh');
  await until('a zombie', () => listGroup(h.pgid).some((m) => m.zombie));
  const all = listGroup(h.pgid);
  const z = all.find((m) => m.zombie);
  t.equal(z?.state, 'Z');
  t.equal(z?.cmdline, '[sleep]', 'zombie cmdline falls back to [comm]');
  t.notOk(liveMembers(h.pgid).some((m) => m.zombie));
  const w = liveWorkers(h.pgid, { ignorePatterns: [] });
  t.same(w.live, [], 'leader (exec sleep) and a zombie: no live worker');
  await killGroup(h.pgid, { graceMs: 2000, kill });
});

t.test('killGroup: SIGTERM ends a tree of children and grandchildren', async (t) => {
  const { h, out } = await start('tree.sh');
  await until('the tree to start', () => out.text().includes('started') && psGroup(h.pgid).length >= 5);
  const r = await killGroup(h.pgid, { graceMs: 3000, kill });
  t.equal(r.termSent, true);
  t.equal(r.killSent, false, 'no SIGKILL needed');
  t.same(r.survivors, []);
  t.ok(r.initial.length >= 5);
  t.same(psGroup(h.pgid), [], 'ps sees nothing of the group');
  const ex = await h.exited;
  t.equal(ex.signal, 'SIGTERM');
  t.ok(r.durationMs < 1000, `gone in ${r.durationMs.toFixed(1)} ms`);
});

t.test('killGroup: SIGKILL after the grace for members that ignore SIGTERM', async (t) => {
  const { h, out } = await start('stubborn.sh');
  await until('the group to start', () => out.text().includes('started') && psGroup(h.pgid).length >= 3);
  const grace = 400;
  const r = await killGroup(h.pgid, { graceMs: grace, kill });
  t.equal(r.termSent, true);
  t.equal(r.killSent, true);
  t.same(r.survivors, []);
  t.same(psGroup(h.pgid), []);
  t.ok(r.durationMs >= grace, `waited the grace (${r.durationMs.toFixed(1)} ms)`);
  t.ok((r.killPhaseMs ?? Infinity) < 500, `SIGKILL phase ${r.killPhaseMs?.toFixed(1)} ms`);
  t.comment(`SIGKILL path: total ${r.durationMs.toFixed(1)} ms, after SIGKILL ${r.killPhaseMs?.toFixed(1)} ms`);
  t.equal((await h.exited).signal, 'SIGKILL');
});

t.test('killGroup: the leader is gone but a member lives on', async (t) => {
  const { h, out } = await start('orphan.sh');
  await h.exited;
  // Output can arrive after the exit is reported: wait for it rather than race it.
  await until('started', () => out.text().includes('started'));
  const left = liveMembers(h.pgid);
  t.equal(left.length, 1, 'one member outlived the leader');
  t.notOk(left.some((m) => m.pid === h.pid));
  const r = await killGroup(h.pgid, { graceMs: 2000, kill });
  t.equal(r.termSent, true);
  t.same(psGroup(h.pgid), []);
});

t.test('killGroup on an empty group sends nothing; pgid <= 1 is refused', async (t) => {
  const { h } = await start('order.sh', { ORDER_LINES: '1' });
  await h.exited;
  await until('the group to empty', () => liveMembers(h.pgid).length === 0);
  const r = await killGroup(h.pgid, { graceMs: 100, kill });
  t.same(r, { termSent: false, killSent: false, survivors: [], initial: [], durationMs: 0 });
  await t.rejects(killGroup(1, { graceMs: 1, kill }), { code: 'ERR_AR_INTERNAL' });
  await t.rejects(killGroup(0, { graceMs: 1, kill }), { code: 'ERR_AR_INTERNAL' });
});

t.test('killGroup in a PTY session', async (t) => {
  const { h, out } = await start('tree.sh', {}, 'pty');
  await until('the tree to start', () => out.text().includes('started') && psGroup(h.pgid).length >= 5);
  const r = await killGroup(h.pgid, { graceMs: 2000, kill });
  t.same(r.survivors, []);
  t.same(psGroup(h.pgid), []);
});

t.test('liveWorkers splits workers from ignored helpers and excludes the leader', async (t) => {
  const { h, out } = await start('result-helper.sh');
  await until(
    'the result and the shell-snapshot tool',
    () => out.text().includes('result') && liveMembers(h.pgid).some((m) => /shell-snapshot/.test(m.cmdline)),
  );
  const none = liveWorkers(h.pgid, { ignorePatterns: [] });
  t.equal(none.live.length, 1, 'helper counts as live without a pattern');
  t.equal(none.ignored.length, 0);
  t.notOk(
    none.live.some((m) => m.pid === h.pid),
    'leader never counts',
  );
  const re = /shell-snapshot/g; // a /g regex must not alternate between matches
  for (let i = 0; i < 3; i++) {
    const w = liveWorkers(h.pgid, { ignorePatterns: [re] });
    t.equal(w.live.length, 0);
    t.equal(w.ignored.length, 1);
  }
  const helper = none.live[0]!.pid;
  t.same(liveWorkers(h.pgid, { ignorePatterns: [], excludePids: [helper] }).live, []);
  await killGroup(h.pgid, { graceMs: 2000, kill });
});

t.test('a tool command in a session of its own (setsid) still belongs to the round and is killed', async (t) => {
  const { h, out } = await start('setsid-tool.sh');
  await until('the group to start', () => out.text().includes('started'));
  // Until `setsid` has run (it may come after "started"), the child is still in the session.
  const escaped = await until('the setsid child, found through its parent', () =>
    listGroup(h.pgid).find((m) => m.session !== h.pgid && m.cmdline === 'sleep 300'),
  );
  t.pass('the setsid child is found through its parent');
  await killGroup(h.pgid, { graceMs: 1000, kill });
  await until('the escaped child to be gone too', () => {
    try {
      process.kill(escaped.pid, 0);
      return false;
    } catch {
      return true;
    }
  });
});
