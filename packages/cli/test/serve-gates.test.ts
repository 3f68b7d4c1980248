import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { runCli, tempProject } from '@agent-runner/testkit/project';
import { agentProject, readEvents, readRounds, startServe, until } from './serve-helpers.js';

const kinds = (evs: Array<Record<string, unknown>>): string[] => evs.map((e) => String(e['kind']));

t.test('auth: the round ends at the first failure, the runner pauses, notifies once, probes and resumes by itself', async (t) => {
  const p = agentProject(
    'cat > /dev/null\nif [ ! -f "$HOME/.fixed" ]; then echo "AUTH FAILED: 401 invalid x-api-key"; sleep 30; fi\necho RESULT ok',
    '',
    '[runtime.auth]\nprobe_interval_s = 10\n',
  );
  t.teardown(p.cleanup);
  const s = startServe(p);
  await until(() => kinds(readEvents(p.stateDir)).includes('auth_paused'), 20_000, 'auth_paused');
  const rounds = readRounds(p.stateDir);
  t.match(rounds[0], { classification: 'auth', status: 'finished' });
  t.ok(Number(rounds[0]?.['duration_ms']) < 5000, `the round ended at the failure (${String(rounds[0]?.['duration_ms'])} ms), not after the agent's 30 s`);
  const db = new Database(join(p.stateDir, 'ledger.sqlite3'), { readonly: true });
  const outbox = db.prepare("SELECT kind, severity, title FROM outbox WHERE kind = 'auth_paused'").all();
  db.close();
  t.match(outbox, [{ kind: 'auth_paused', severity: 'error' }], 'one notification queued for the bridge');
  writeFileSync(join(p.home, '.fixed'), ''); // outside the work tree: git hygiene would stash it
  await until(() => kinds(readEvents(p.stateDir)).includes('auth_recovered'), 25_000, 'auth_recovered');
  s.child.kill('SIGTERM');
  t.equal((await s.exited).code, 0);
  t.same(readRounds(p.stateDir).map((r) => r['classification']).slice(0, 2), ['auth', 'ok'], 'paused rather than looping, then resumed');
  t.match(readEvents(p.stateDir).find((e) => e['kind'] === 'auth_recovered'), { probes: 0 });
});

t.test('pause marker: no round starts until resumed', async (t) => {
  const p = agentProject('cat > /dev/null\necho RESULT');
  t.teardown(p.cleanup);
  const { requestPause, clearPause } = await import('@agent-runner/core/requests');
  const { projectPaths } = await import('@agent-runner/core/paths');
  const paths = projectPaths('proj', p.stateDir, join(p.stateDir, 'logs'));
  requestPause(paths, { by: 'test', reason: 'maintenance', nowMs: Date.now() });
  const s = startServe(p, ['--max-rounds', '1']);
  await until(() => kinds(readEvents(p.stateDir)).includes('runner_paused'), 20_000, 'runner_paused');
  await new Promise((r) => setTimeout(r, 1500));
  t.notOk(kinds(readEvents(p.stateDir)).includes('round_start'), 'no round while paused');
  clearPause(paths);
  t.equal((await s.exited).code, 0);
  t.same(kinds(readEvents(p.stateDir)).filter((k) => /paused|resumed|round_start/.test(k)), ['runner_paused', 'runner_resumed', 'round_start']);
});

t.test('daily cost budget stops starting rounds', async (t) => {
  const result = JSON.stringify({ type: 'result', subtype: 'success', is_error: false, duration_ms: 10, num_turns: 1, result: 'done', total_cost_usd: 0.6, usage: { input_tokens: 5, output_tokens: 6, cache_read_input_tokens: 7, cache_creation_input_tokens: 8 } });
  const p = agentProject(`cat > /dev/null\necho '${result}'`, 'daily_cost_budget_usd = 1.0');
  t.teardown(p.cleanup);
  p.write('agent-runner.toml', (await import('node:fs')).readFileSync(join(p.dir, 'agent-runner.toml'), 'utf8').replace('[agent]\n', '[agent]\npreset = "claude"\n'));
  const s = startServe(p);
  await until(() => kinds(readEvents(p.stateDir)).includes('budget_exhausted'), 20_000, 'budget_exhausted');
  s.child.kill('SIGTERM');
  t.equal((await s.exited).code, 0);
  const rounds = readRounds(p.stateDir);
  t.equal(rounds.length, 2, 'two rounds of $0.60 reach the $1.00 budget');
  t.match(rounds[0], { cost_usd: 0.6, input_tokens: 5, output_tokens: 6, cache_read_tokens: 7, cache_creation_tokens: 8, classification: 'ok' });
  t.match(readEvents(p.stateDir).find((e) => e['kind'] === 'budget_exhausted'), { cost_usd: 1.2, budget_usd: 1 });
  const peek = await runCli(['peek', '--json'], { cwd: p.dir, env: p.env });
  t.match(JSON.parse(peek.stdout), { today: { rounds: 2, cost_usd: 1.2, input_tokens: 10 } });
});

t.test('a rate limit one runner records is honoured by another runner of the same account', async (t) => {
  const cfg = (agent: string) => `[agent]\ncommand = ["${agent}"]\n[agent.patterns]\nrate_limit = ["^RATE LIMITED"]\nresult = ["^RESULT"]\n[prompt]\nfile = "P.md"\n[runtime]\nrestart_delay_s = 0\n[runtime.backoff]\nbase_s = 30\njitter_s = 0\n`;
  const a = tempProject('a', { 'P.md': 'x', 'agent.sh': '#!/bin/sh\ncat > /dev/null\necho "RATE LIMITED"\nexit 1\n', 'agent-runner.toml': cfg('./agent.sh') });
  t.teardown(a.cleanup);
  const b = tempProject('b', { 'P.md': 'x', 'agent.sh': '#!/bin/sh\ncat > /dev/null\necho RESULT\n', 'agent-runner.toml': cfg('./agent.sh') });
  t.teardown(b.cleanup);
  const stateA = join(a.home, '.local/state/agent-runner/a');
  const stateB = join(a.home, '.local/state/agent-runner/b');
  const sa = startServe(a);
  await until(() => kinds(readEvents(stateA)).includes('backoff_started'), 20_000, 'a backs off');
  sa.child.kill('SIGTERM');
  await sa.exited;
  const sb = startServe({ ...b, env: a.env });
  await until(() => kinds(readEvents(stateB)).includes('backoff_started'), 20_000, 'b honours a\'s throttle');
  sb.child.kill('SIGTERM');
  t.equal((await sb.exited).code, 0);
  t.notOk(kinds(readEvents(stateB)).includes('round_start'), 'b started no round while the account was throttled');
  t.match(readEvents(stateB).find((e) => e['kind'] === 'backoff_started'), { class: 'rate_limit' });
});
