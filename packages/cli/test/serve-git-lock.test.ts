import t from 'tap';
import { existsSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { agentProject, readEvents, readRounds, startServe } from './serve-helpers.js';

t.test('a git index.lock a killed git left in the work tree is removed before the round, which then commits', async (t) => {
  const p = agentProject('cat > /dev/null\necho "$$" > work.txt\ngit add work.txt && git commit -qm work && echo RESULT committed');
  t.teardown(p.cleanup);
  const lock = join(p.dir, '.git', 'index.lock');
  writeFileSync(lock, '');
  const old = new Date(Date.now() - 60_000);
  utimesSync(lock, old, old);

  const s = startServe(p, ['--max-rounds', '1']);
  const { code } = await s.exited;
  t.equal(code, 0, s.stderr());
  t.notOk(existsSync(lock), 'the stale lock is gone');
  const removed = readEvents(p.stateDir).filter((e) => e['kind'] === 'git_index_lock_removed');
  t.equal(removed.length, 1);
  t.match(removed[0], { path: lock, round: undefined });
  t.ok(Number(removed[0]!['age_s']) >= 59, 'its age from its mtime');
  t.match(readRounds(p.stateDir)[0], { classification: 'ok' }, 'the agent could commit');
  t.match(p.git('log', '-1', '--format=%s'), /^work/);
  t.match(s.stderr(), /removed .*index\.lock, left 6\d s ago by a git that no longer runs/);
});
