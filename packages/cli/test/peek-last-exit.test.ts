/**
 * `peek --json` `service.last_exit`: how the last serve ended, from its clean-exit record, so a
 * monitor (and the AgentRunnerStopped rule of examples/prometheus) can tell a stop on purpose
 * from a runner that died. Real serves of a real project; the death is a real SIGKILL.
 */
import t from 'tap';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli } from '@agent-runner/testkit/project';
import { until } from '@agent-runner/testkit/until';
import { agentProject, readRounds, startServe } from './serve-helpers.js';

const peekService = async (p: ReturnType<typeof agentProject>): Promise<Record<string, unknown>> => {
  const r = await runCli(['peek', '--json'], { cwd: p.dir, env: p.env });
  t.equal(r.code, 0, r.stderr || r.stdout);
  return (JSON.parse(r.stdout) as { service: Record<string, unknown> }).service;
};

t.test('a bounded run: stopped on purpose; a SIGKILLed serve: no record of its end', async (t) => {
  // A round, then 30 s between rounds: the kill comes while no agent runs.
  const p = agentProject('cat > /dev/null\necho RESULT done');
  t.teardown(p.cleanup);
  const toml = join(p.dir, 'agent-runner.toml');
  writeFileSync(toml, readFileSync(toml, 'utf8').replace('restart_delay_s = 0', 'restart_delay_s = 30'));
  t.equal((await peekService(p))['last_exit'], null, 'never ran');

  const once = await runCli(['serve', '--once'], { cwd: p.dir, env: p.env, timeoutMs: 60_000 });
  t.equal(once.code, 0, once.stderr);
  const after = await peekService(p);
  t.equal(after['state'], 'stopped');
  t.match(after['last_exit'], { reason: 'max_rounds', exit_code: 0, on_purpose: true, exited_at: /^\d{4}-\d\d-\d\dT.*Z$/ });

  const s = startServe(p);
  await until('the second round ended', () => readRounds(p.stateDir).some((r) => r['round'] === 2 && r['status'] === 'finished'), 30_000);
  t.equal((await peekService(p))['last_exit'], null, 'while it runs');
  s.child.kill('SIGKILL');
  await s.exited;
  const dead = await peekService(p);
  t.equal(dead['state'], 'stopped');
  t.equal(dead['last_exit'], null, "the older record is not the killed incarnation's");
  t.ok(
    existsSync(join(p.stateDir, 'run', 'exit-runner.json')),
    'an older record is still there: older than the enrolled process, it is not its',
  );
  t.match(
    (await runCli(['peek'], { cwd: p.dir, env: p.env })).stdout,
    /^last exit: not recorded \(serve was killed, crashed or never started here\)$/m,
  );

  const stopped = startServe(p);
  await until('the third round ended', () => readRounds(p.stateDir).some((r) => r['round'] === 3 && r['status'] === 'finished'), 30_000);
  const stop = await runCli(['stop', '--timeout', '20'], { cwd: p.dir, env: p.env, timeoutMs: 30_000 });
  t.equal(stop.code, 0, stop.stderr);
  await stopped.exited;
  t.match((await peekService(p))['last_exit'], { reason: 'stop_requested', on_purpose: true }, 'agent-runner stop');
  const human = await runCli(['peek'], { cwd: p.dir, env: p.env });
  t.match(human.stdout, /^last exit: stop_requested \(exit 0\) at \S+Z, on purpose$/m, 'peek says it to a human');
});
