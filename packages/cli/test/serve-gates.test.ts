import t from 'tap';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli, tempProject } from '@agent-runner/testkit/project';
import { until } from '@agent-runner/testkit/until';
import { alarmsOf, agentProject, readEvents, readOutbox, readRounds, runFile, startServe } from './serve-helpers.js';

const kinds = (evs: Array<Record<string, unknown>>): string[] => evs.map((e) => String(e['kind']));

t.test(
  'auth: the round ends at the first failure, the runner pauses and probes; one alarm and one recovery for the whole outage, across serve restarts',
  async (t) => {
    const p = agentProject(
      'cat > /dev/null\nif [ ! -f "$HOME/.fixed" ]; then echo "AUTH FAILED: 401 invalid x-api-key"; sleep 30; fi\necho RESULT ok',
      '',
      '[runtime.auth]\nprobe_interval_s = 1\n',
    );
    t.teardown(p.cleanup);
    const authRounds = (): number => readRounds(p.stateDir).filter((r) => r['classification'] === 'auth').length;
    const s = startServe(p);
    await until('auth_paused', () => kinds(readEvents(p.stateDir)).includes('auth_paused'), 20_000);
    const rounds = readRounds(p.stateDir);
    t.match(rounds[0], { classification: 'auth', status: 'finished' });
    t.ok(
      Number(rounds[0]?.['duration_ms']) < 5000,
      `the round ended at the failure (${String(rounds[0]?.['duration_ms'])} ms), not after the agent's 30 s`,
    );
    await until('paused heartbeat', () => runFile(p.stateDir, 'heartbeat-runner.json')?.['state'] === 'paused', 5000);
    t.match(runFile(p.stateDir, 'heartbeat-runner.json'), { state: 'paused', detail: { pause: 'auth', until: /^\d{4}-/ } });
    const first = alarmsOf(p.stateDir, 'auth_paused');
    t.equal(first.alarms.length, 1, 'one alarm queued for the bridge');
    t.match(first.alarms[0], { severity: 'critical', title: /^proj@.+: generic login rejected, rounds paused$/ });
    t.match(first.alarms[0]?.body, /resumes by itself once login works/);
    t.notMatch(first.alarms[0]?.body, /agent-runner start/, 'nothing to run: it resumes by itself');

    // The outage goes on through many probes and two restarts of serve (a stop and a kill).
    await until('five probes', () => authRounds() >= 5, 30_000);
    s.child.kill('SIGTERM');
    t.equal((await s.exited).code, 0);
    const s2 = startServe(p);
    await until(
      'probes of the second serve',
      () => authRounds() >= 8 && runFile(p.stateDir, 'heartbeat-runner.json')?.['state'] === 'paused',
      30_000,
    );
    s2.child.kill('SIGKILL');
    await s2.exited;
    const s3 = startServe(p);
    await until('probes of the third serve', () => authRounds() >= 11, 30_000);
    t.equal(alarmsOf(p.stateDir, 'auth_paused').alarms.length, 1, `${authRounds()} failed probes, three serves: still one alarm`);

    writeFileSync(join(p.home, '.fixed'), ''); // outside the work tree: git hygiene would stash it
    await until('auth_recovered', () => kinds(readEvents(p.stateDir)).includes('auth_recovered'), 25_000);
    await until('rounds run again', () => readRounds(p.stateDir).filter((r) => r['classification'] === 'ok').length >= 3, 20_000);
    s3.child.kill('SIGTERM');
    t.equal((await s3.exited).code, 0);
    const { alarms, recoveries } = alarmsOf(p.stateDir, 'auth_paused');
    t.equal(alarms.length, 1, 'exactly one alarm');
    t.equal(recoveries.length, 1, 'exactly one recovery');
    t.match(recoveries[0], {
      severity: 'critical',
      title: /resolved: authentication works again; rounds resumed after \d+ s$/,
      payload: { reply_to: alarms[0]?.idempotency_key },
    });
    const outageS = (Date.now() - Date.parse(String(readEvents(p.stateDir).find((e) => e['kind'] === 'auth_paused')?.['ts']))) / 1000;
    const recovered = readEvents(p.stateDir).filter((e) => e['kind'] === 'auth_recovered');
    t.equal(recovered.length, 1, 'recovered once');
    t.ok(
      Number(recovered[0]?.['paused_s']) >= outageS - 5,
      `the pause counts from the first failure, before the restarts (${String(recovered[0]?.['paused_s'])} s of ~${Math.round(outageS)} s)`,
    );
    t.equal(readOutbox(p.stateDir).length, 2, 'nothing else queued');
  },
);

t.test('pause marker: no round starts until resumed', async (t) => {
  const p = agentProject('cat > /dev/null\necho RESULT');
  t.teardown(p.cleanup);
  const { requestPause, clearPause } = await import('@agent-runner/core/requests');
  const { projectPaths } = await import('@agent-runner/core/paths');
  const paths = projectPaths('proj', p.stateDir, join(p.stateDir, 'logs'));
  requestPause(paths, { by: 'test', reason: 'maintenance', nowMs: Date.now() });
  const s = startServe(p, ['--max-rounds', '1']);
  await until('runner_paused', () => kinds(readEvents(p.stateDir)).includes('runner_paused'), 20_000);
  await new Promise((r) => setTimeout(r, 1500));
  t.notOk(kinds(readEvents(p.stateDir)).includes('round_start'), 'no round while paused');
  clearPause(paths);
  t.equal((await s.exited).code, 0);
  t.same(
    kinds(readEvents(p.stateDir)).filter((k) => /paused|resumed|round_start/.test(k)),
    ['runner_paused', 'runner_resumed', 'round_start'],
  );
});

t.test('daily cost budget stops starting rounds', async (t) => {
  const result = JSON.stringify({
    type: 'result',
    subtype: 'success',
    is_error: false,
    duration_ms: 10,
    num_turns: 1,
    result: 'done',
    total_cost_usd: 0.6,
    usage: { input_tokens: 5, output_tokens: 6, cache_read_input_tokens: 7, cache_creation_input_tokens: 8 },
  });
  const p = agentProject(`cat > /dev/null\necho '${result}'`, 'daily_cost_budget_usd = 1.0');
  t.teardown(p.cleanup);
  p.write('agent-runner.toml', readFileSync(join(p.dir, 'agent-runner.toml'), 'utf8').replace('[agent]\n', '[agent]\npreset = "claude"\n'));
  p.git('commit', '-qam', 'claude preset');
  const s = startServe(p);
  await until(
    'budget_exhausted',
    () =>
      kinds(readEvents(p.stateDir)).includes('budget_exhausted') && runFile(p.stateDir, 'heartbeat-runner.json')?.['state'] === 'paused',
    20_000,
  );
  const midnight = new Date();
  midnight.setUTCHours(24, 0, 0, 0);
  t.match(runFile(p.stateDir, 'heartbeat-runner.json'), { state: 'paused', detail: { pause: 'budget', until: midnight.toISOString() } });
  s.child.kill('SIGTERM');
  t.equal((await s.exited).code, 0);
  const budget = alarmsOf(p.stateDir, 'budget_exhausted');
  t.equal(budget.alarms.length, 1);
  t.match(budget.alarms[0], {
    severity: 'warning',
    title: /: daily budget spent, rounds paused$/,
    body: `Today's cost $1.20 reached the $1.00 budget. Rounds resume by themselves at ${midnight.toISOString()}.`,
  });
  const rounds = readRounds(p.stateDir);
  t.equal(rounds.length, 2, 'two rounds of $0.60 reach the $1.00 budget');
  t.match(rounds[0], {
    cost_usd: 0.6,
    input_tokens: 5,
    output_tokens: 6,
    cache_read_tokens: 7,
    cache_creation_tokens: 8,
    classification: 'ok',
  });
  t.match(
    readEvents(p.stateDir).find((e) => e['kind'] === 'budget_exhausted'),
    { cost_usd: 1.2, budget_usd: 1 },
  );
  const peek = await runCli(['peek', '--json'], { cwd: p.dir, env: p.env });
  t.match(JSON.parse(peek.stdout), { today: { rounds: 2, cost_usd: 1.2, input_tokens: 10 } });

  // A higher budget and a restart: rounds resume, and the recovery is told once.
  p.write(
    'agent-runner.toml',
    readFileSync(join(p.dir, 'agent-runner.toml'), 'utf8').replace('daily_cost_budget_usd = 1.0', 'daily_cost_budget_usd = 5.0'),
  );
  p.git('commit', '-qam', 'bigger budget');
  const r = await runCli(['serve', '--max-rounds', '1'], { cwd: p.dir, env: p.env, timeoutMs: 30_000 });
  t.equal(r.code, 0, r.stderr);
  t.match(alarmsOf(p.stateDir, 'budget_exhausted').recoveries, [
    { severity: 'warning', title: /resolved: a new budget day began; rounds resumed$/ },
  ]);
});

t.test('a rate limit one runner records is honoured by another runner of the same account', async (t) => {
  const cfg = (agent: string) =>
    `[agent]\ncommand = ["${agent}"]\n[agent.patterns]\nrate_limit = ["^RATE LIMITED"]\nresult = ["^RESULT"]\n[prompt]\nfile = "P.md"\n[runtime]\nrestart_delay_s = 0\n[runtime.backoff]\nbase_s = 30\njitter_s = 0\n`;
  const a = tempProject('a', {
    'P.md': 'x',
    'agent.sh': '#!/bin/sh\ncat > /dev/null\necho "RATE LIMITED"\nexit 1\n',
    'agent-runner.toml': cfg('./agent.sh'),
  });
  t.teardown(a.cleanup);
  const b = tempProject('b', {
    'P.md': 'x',
    'agent.sh': '#!/bin/sh\ncat > /dev/null\necho RESULT\n',
    'agent-runner.toml': cfg('./agent.sh'),
  });
  t.teardown(b.cleanup);
  const stateA = join(a.home, '.local/state/agent-runner/a');
  const stateB = join(a.home, '.local/state/agent-runner/b');
  const sa = startServe(a);
  await until('a backs off', () => kinds(readEvents(stateA)).includes('backoff_started'), 20_000);
  sa.child.kill('SIGTERM');
  await sa.exited;
  const sb = startServe({ ...b, env: a.env });
  await until("b honours a's throttle", () => kinds(readEvents(stateB)).includes('backoff_started'), 20_000);
  sb.child.kill('SIGTERM');
  t.equal((await sb.exited).code, 0);
  t.notOk(kinds(readEvents(stateB)).includes('round_start'), 'b started no round while the account was throttled');
  t.match(
    readEvents(stateB).find((e) => e['kind'] === 'backoff_started'),
    { class: 'rate_limit' },
  );
});
