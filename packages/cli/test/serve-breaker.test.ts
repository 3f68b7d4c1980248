// The half-open crash-loop breaker (issue 19 #3): a crash loop pauses rounds for a cool-down,
// then one round tries; a failed try re-opens it with the cool-down doubled up to the cap; a
// good one closes it. One alarm and one recovery for the whole episode, across serve restarts.
import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { until } from '@agent-runner/testkit/until';
import { alarmsOf, agentProject, readEvents, readRounds, runFile, startServe } from './serve-helpers.js';

const kinds = (evs: Array<Record<string, unknown>>): string[] => evs.map((e) => String(e['kind']));
const loops = (stateDir: string): Array<Record<string, unknown>> => readEvents(stateDir).filter((e) => e['kind'] === 'crash_loop');

/** An agent that crashes at once until `$HOME/fixed` exists. */
function crashingProject(crashLoop: string): ReturnType<typeof agentProject> {
  const p = agentProject(
    'cat > /dev/null\nif [ ! -f "$HOME/fixed" ]; then echo "fatal: cannot open database app.db"; exit 4; fi\necho RESULT ok',
    '',
    `[runtime.crash_loop]\nthreshold = 2\n${crashLoop}`,
  );
  p.write(
    'agent-runner.toml',
    p.git('show', 'HEAD:agent-runner.toml').replace('base_s = 30', 'base_s = 1').replace('max_s = 60', 'max_s = 1'),
  );
  p.git('commit', '-qam', 'short back-off');
  return p;
}

t.test('open, try, re-open with the cool-down doubled, try again, close: one alarm, one recovery', async (t) => {
  const p = crashingProject('cooldown_s = 2\ncooldown_max_s = 3\n');
  t.teardown(p.cleanup);
  const s = startServe(p);
  await until('the breaker opens', () => loops(p.stateDir).length === 1, 20_000);
  t.match(loops(p.stateDir)[0], {
    consecutive: 2,
    threshold: 2,
    last_exit_code: 4,
    cooldown_s: 2,
    retry_at: /^\d{4}-\d\d-\d\dT/,
    tail: /cannot open database/,
  });
  await until('paused heartbeat', () => runFile(p.stateDir, 'heartbeat-runner.json')?.['state'] === 'paused', 5000);
  t.match(
    runFile(p.stateDir, 'heartbeat-runner.json'),
    { state: 'paused', detail: { pause: 'crash_loop', until: loops(p.stateDir)[0]?.['retry_at'] } },
    'the heartbeat says why and until when',
  );
  t.equal(s.child.exitCode, null, 'serve stays up (no exit 69)');

  await until('the try crashes: re-opened', () => loops(p.stateDir).length === 2, 20_000);
  t.equal(readRounds(p.stateDir).length, 3, 'exactly one round was tried after the cool-down');
  t.match(loops(p.stateDir)[1], { cooldown_s: 3 }, 'doubled (4 s), capped at cooldown_max_s');
  const { alarms } = alarmsOf(p.stateDir, 'crash_loop');
  t.equal(alarms.length, 1, 're-opening is the same episode: no second alarm');
  t.match(alarms[0], { severity: 'critical', title: /: crash loop, rounds stopped$/ });
  t.match(alarms[0]?.body, `No round runs until ${String(loops(p.stateDir)[0]?.['retry_at'])}; then the runner tries one round by itself`);
  t.match(alarms[0]?.body, /cannot open database/);
  t.match(alarms[0]?.body, /to try at once: agent-runner restart$/);

  writeFileSync(join(p.home, 'fixed'), '');
  await until('the next try succeeds', () => kinds(readEvents(p.stateDir)).includes('crash_loop_recovered'), 20_000);
  t.match(
    readEvents(p.stateDir).find((e) => e['kind'] === 'crash_loop_recovered'),
    { round: 4, failed_tries: 1 },
  );
  await until('rounds run again', () => readRounds(p.stateDir).length >= 6, 20_000);
  s.child.kill('SIGTERM');
  t.equal((await s.exited).code, 0, s.stderr());
  const done = alarmsOf(p.stateDir, 'crash_loop');
  t.equal(done.alarms.length, 1);
  t.equal(done.recoveries.length, 1, 'one recovery');
  t.match(done.recoveries[0], { severity: 'critical', title: /resolved: round 4 succeeded after the crash loop; rounds run again$/ });
  t.same(
    readRounds(p.stateDir)
      .slice(0, 4)
      .map((r) => r['classification']),
    ['crash', 'crash', 'crash', 'ok'],
  );
});

t.test('SIGTERM ends a cool-down at once; the next serve starts half-open (one crash re-opens it, same episode)', async (t) => {
  const p = crashingProject('cooldown_s = 300\ncooldown_max_s = 1000\n');
  t.teardown(p.cleanup);
  const s = startServe(p);
  await until('the breaker opens', () => loops(p.stateDir).length === 1, 20_000);
  const sent = Date.now();
  s.child.kill('SIGTERM');
  const ex = await s.exited;
  t.equal(ex.code, 0, s.stderr());
  t.ok(ex.atMs - sent < 1000, `exited ${ex.atMs - sent} ms after SIGTERM`);
  t.match(runFile(p.stateDir, 'exit-runner.json'), { exit_code: 0, reason: 'signal' });

  const s2 = startServe(p);
  await until('re-opened by the first round', () => loops(p.stateDir).length === 2, 20_000);
  t.equal(readRounds(p.stateDir).length, 3, 'one round, not another threshold of crashes');
  t.match(loops(p.stateDir)[1], { consecutive: 1, cooldown_s: 600 }, "the episode's cool-down, doubled");
  s2.child.kill('SIGTERM');
  t.equal((await s2.exited).code, 0);
  t.equal(alarmsOf(p.stateDir, 'crash_loop').alarms.length, 1, 'one alarm across both serves');
});
