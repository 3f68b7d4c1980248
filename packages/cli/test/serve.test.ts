import t from 'tap';
import { existsSync, mkdirSync, readdirSync, readlinkSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCli } from '@agent-runner/testkit/project';
import { until } from '@agent-runner/testkit/until';
import { alarmsOf, agentProject, readEvents, readRounds, runFile, startServe } from './serve-helpers.js';

const kinds = (evs: Array<Record<string, unknown>>): string[] => evs.map((e) => String(e['kind']));

t.test('serve --max-rounds 3: rounds, ledger rows, events, logs, git hygiene', async (t) => {
  const p = agentProject(
    'cat > /dev/null\necho "round $AGENT_RUNNER_ROUND of $AGENT_RUNNER_PROJECT in ${AGENT_RUNNER_PHASE:-none}"\necho "x$AGENT_RUNNER_ROUND" >> work.txt\necho RESULT done',
  );
  t.teardown(p.cleanup);
  const r = await runCli(['serve', '--max-rounds', '3'], { cwd: p.dir, env: p.env, timeoutMs: 60_000 });
  t.equal(r.code, 0, r.stderr);
  const rounds = readRounds(p.stateDir);
  t.same(
    rounds.map((x) => [x['round'], x['status'], x['classification'], x['exit_code']]),
    [
      [1, 'finished', 'ok', 0],
      [2, 'finished', 'ok', 0],
      [3, 'finished', 'ok', 0],
    ],
  );
  const evs = readEvents(p.stateDir);
  t.same(
    kinds(evs).filter((k) => k.startsWith('round_') || k.startsWith('serve_') || k === 'max_rounds_reached' || k === 'vcs_stashed'),
    [
      'serve_started',
      'round_start',
      'vcs_stashed',
      'round_end',
      'round_start',
      'vcs_stashed',
      'round_end',
      'round_start',
      'vcs_stashed',
      'round_end',
      'max_rounds_reached',
      'serve_stopped',
    ],
  );
  const end = evs.find((e) => e['kind'] === 'round_end');
  t.match(end, { round: 1, classification: 'ok', exit_code: 0, phase: 'default', unit: 'runner', project: 'proj', v: 1 });
  const log = String(rounds[0]?.['log_file']);
  t.match(readFileSync(log, 'utf8'), /round 1 of proj in none/, 'the agent saw its environment; output in the round log');
  t.match(log, /logs\/rounds\/R1-\d{8}T\d{6}Z\.log$/);
  t.equal(readlinkSync(join(p.stateDir, 'logs', 'round-current.log')), `rounds/${String(rounds[2]?.['log_file']).split('/').pop()}`);
  const stashes = p.git('stash', 'list', '--format=%H %s').trim().split('\n');
  t.equal(stashes.length, 3, 'each dirty round stashed');
  const stashed = evs.filter((e) => e['kind'] === 'vcs_stashed').map((e) => e['sha']);
  t.same(new Set(stashed), new Set(stashes.map((s) => s.split(' ')[0])), 'stashes recorded by SHA');
  t.equal(p.git('status', '--porcelain').trim(), '', 'the state dir is never swept in, the tree is clean');
  t.match(r.stderr, /stopped: max_rounds \(exit 0, 3 round\(s\)\)/);
});

t.test('SIGTERM ends a back-off at once (the Python anchor took 16.9 s)', async (t) => {
  const p = agentProject('cat > /dev/null\necho "RATE LIMITED try later"\nexit 1');
  t.teardown(p.cleanup);
  const s = startServe(p);
  await until('backoff_started', () => kinds(readEvents(p.stateDir)).includes('backoff_started'), 20_000);
  const ev = readEvents(p.stateDir).find((e) => e['kind'] === 'backoff_started');
  t.match(ev, { class: 'rate_limit', delay_s: 30 });
  const sent = Date.now();
  s.child.kill('SIGTERM');
  const ex = await s.exited;
  t.equal(ex.code, 0, s.stderr());
  t.ok(ex.atMs - sent < 1000, `exited ${ex.atMs - sent} ms after SIGTERM`);
  t.match(readEvents(p.stateDir).at(-1), { kind: 'serve_stopped', reason: 'signal' });
});

t.test('first SIGTERM lets the round finish; a second one kills its process group', async (t) => {
  const p = agentProject('cat > /dev/null\necho started\nsleep 2\necho RESULT finished');
  t.teardown(p.cleanup);
  const s = startServe(p);
  await until('round_start', () => kinds(readEvents(p.stateDir)).includes('round_start'), 20_000);
  s.child.kill('SIGTERM');
  const ex = await s.exited;
  t.equal(ex.code, 0);
  t.match(readRounds(p.stateDir), [{ round: 1, status: 'finished', classification: 'ok', exit_code: 0 }], 'the round finished normally');

  const q = agentProject('cat > /dev/null\necho started\nsleep 300 & sleep 300\necho RESULT never');
  t.teardown(q.cleanup);
  const s2 = startServe(q);
  await until('round_start', () => kinds(readEvents(q.stateDir)).includes('round_start'), 20_000);
  await new Promise((r) => setTimeout(r, 300));
  s2.child.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 200));
  s2.child.kill('SIGTERM');
  const ex2 = await s2.exited;
  t.equal(ex2.code, 0);
  const row = readRounds(q.stateDir)[0];
  t.equal(row?.['status'], 'finished');
  t.equal(row?.['signal'], 'SIGTERM', 'the agent was ended by the runner');
  t.ok(kinds(readEvents(q.stateDir)).includes('round_operator_kill'));
});

t.test('crash loop with cooldown_s = 0: a hard stop, exit 69, one alarm with the redacted tail', async (t) => {
  const p = agentProject(
    'cat > /dev/null\necho "fatal: boom with key sk-ant-abcdefghijklmnopqrstuvwx"\nexit 3',
    '',
    '[runtime.crash_loop]\nthreshold = 3\ncooldown_s = 0\n',
  );
  t.teardown(p.cleanup);
  writeFileSync(
    join(p.dir, 'agent-runner.toml'),
    readFileSync(join(p.dir, 'agent-runner.toml'), 'utf8').replace('base_s = 30', 'base_s = 1').replace('max_s = 60', 'max_s = 1'),
  );
  const r = await runCli(['serve'], { cwd: p.dir, env: p.env, timeoutMs: 60_000 });
  t.equal(r.code, 69, r.stderr);
  const evs = readEvents(p.stateDir);
  const loop = evs.find((e) => e['kind'] === 'crash_loop');
  t.match(loop, { consecutive: 3, threshold: 3, last_exit_code: 3 });
  t.notOk(loop && 'retry_at' in loop, 'no retry time: nothing will retry');
  t.match(String(loop?.['tail']), /fatal: boom/);
  t.notMatch(String(loop?.['tail']), /sk-ant-abc/, 'secrets redacted');
  t.equal(readRounds(p.stateDir).length, 3);
  t.same(
    readRounds(p.stateDir).map((x) => x['classification']),
    ['crash', 'crash', 'crash'],
  );
  const { alarms, recoveries } = alarmsOf(p.stateDir, 'crash_loop');
  t.equal(alarms.length, 1, 'one alarm, queued by serve itself (no monitor running)');
  t.equal(recoveries.length, 0);
  t.match(alarms[0], { severity: 'critical', title: /^proj@.+: crash loop, rounds stopped$/ });
  t.match(alarms[0]?.body, /exit 69\); systemd will not restart it/);
  t.match(alarms[0]?.body, /fatal: boom/);
  t.notMatch(alarms[0]?.body, /sk-ant-abc/);
  t.match(alarms[0]?.body, /Fix the cause, then: agent-runner start$/);
  t.match(
    runFile(p.stateDir, 'exit-runner.json'),
    { exit_code: 69, reason: 'crash_loop' },
    'the exit record tells the watchdog to leave it stopped',
  );

  // Fixed, started again: the first good round is the recovery, told once.
  writeFileSync(join(p.dir, 'agent.sh'), '#!/bin/sh\ncat > /dev/null\necho RESULT\n');
  p.git('commit', '-qam', 'fixed agent');
  const r2 = await runCli(['serve', '--max-rounds', '2'], { cwd: p.dir, env: p.env, timeoutMs: 30_000 });
  t.equal(r2.code, 0, r2.stderr);
  const after = alarmsOf(p.stateDir, 'crash_loop');
  t.equal(after.alarms.length, 1);
  t.equal(after.recoveries.length, 1, 'one recovery');
  t.match(after.recoveries[0], {
    severity: 'critical',
    title: /resolved: round 4 succeeded after the crash loop/,
    payload: { reply_to: after.alarms[0]?.idempotency_key },
  });
  t.ok(kinds(readEvents(p.stateDir)).includes('crash_loop_recovered'));
});

t.test('config_broken: exit 78 before any round burns; one alarm, cleared by the next good start', async (t) => {
  const p = agentProject('cat > /dev/null\necho RESULT');
  t.teardown(p.cleanup);
  const toml = join(p.dir, 'agent-runner.toml');
  const good = readFileSync(toml, 'utf8');
  writeFileSync(toml, good.replace('command = ["./agent.sh"]', 'command = ["no-such-agent-xyz"]'));
  const r = await runCli(['serve'], { cwd: p.dir, env: p.env });
  t.equal(r.code, 78);
  t.match(r.stderr, /STARTUP FAIL \(agent_on_path\)/);
  t.match(readEvents(p.stateDir), [{ kind: 'config_broken', check: 'agent_on_path' }]);
  t.same(readRounds(p.stateDir), [], 'no round ran');
  t.match(runFile(p.stateDir, 'exit-runner.json'), { exit_code: 78, reason: 'config_broken' });
  t.notOk(runFile(p.stateDir, 'enroll-runner.json'), 'enrollment removed');
  const again = await runCli(['serve'], { cwd: p.dir, env: p.env });
  t.equal(again.code, 78);
  const broken = alarmsOf(p.stateDir, 'config_broken');
  t.equal(broken.alarms.length, 1, 'two failed starts, one alarm');
  t.match(broken.alarms[0], {
    severity: 'critical',
    title: /: not started: agent_on_path broken$/,
    body: /agent executable not found: no-such-agent-xyz/,
  });

  writeFileSync(join(p.dir, 'PROMPT.md'), '');
  writeFileSync(toml, good);
  const r2 = await runCli(['serve'], { cwd: p.dir, env: p.env });
  t.equal(r2.code, 78);
  t.match(r2.stderr, /STARTUP FAIL \(prompt_file\)/);
  t.equal(alarmsOf(p.stateDir, 'config_broken').alarms.length, 1, 'still the same episode');

  writeFileSync(join(p.dir, 'PROMPT.md'), 'Do the next step.\n');
  const r3 = await runCli(['serve', '--max-rounds', '1'], { cwd: p.dir, env: p.env, timeoutMs: 30_000 });
  t.equal(r3.code, 0, r3.stderr);
  t.match(alarmsOf(p.stateDir, 'config_broken').recoveries, [{ severity: 'critical', title: /resolved: the runner started again/ }]);
});

t.test('.agent-done stops with its first 200 characters; a stale one is cleared at start', async (t) => {
  const p = agentProject(
    `cat > /dev/null\nif [ "$AGENT_RUNNER_ROUND" = 2 ]; then printf '%0300d' 0 > "$AGENT_RUNNER_LOG_DIR/.agent-done"; fi\necho RESULT`,
  );
  t.teardown(p.cleanup);
  const logs = join(p.stateDir, 'logs');
  mkdirSync(logs, { recursive: true });
  writeFileSync(join(logs, '.agent-done'), 'stale from a previous run');
  const r = await runCli(['serve'], { cwd: p.dir, env: p.env, timeoutMs: 60_000 });
  t.equal(r.code, 0, r.stderr);
  t.equal(readRounds(p.stateDir).length, 2, 'the stale sentinel did not stop the first round');
  const done = readEvents(p.stateDir).find((e) => e['kind'] === 'agent_self_terminated');
  t.equal(String(done?.['reason']).length, 200);
});

t.test('stop: `agent-runner stop` returns only when serve is gone; touch works too', async (t) => {
  const p = agentProject('cat > /dev/null\nsleep 1.5\necho RESULT');
  t.teardown(p.cleanup);
  const s = startServe(p);
  await until('round_start', () => kinds(readEvents(p.stateDir)).includes('round_start'), 20_000);
  const r = await runCli(['stop'], { cwd: p.dir, env: p.env, timeoutMs: 30_000 });
  t.equal(r.code, 0, r.stderr);
  t.match(r.stderr, /agent-runner: stopping service\.\.\.\nagent-runner: stopped \(\d+\.\ds\)/);
  t.equal(s.child.exitCode, 0, 'serve had already exited when stop returned');
  t.match(readRounds(p.stateDir), [{ status: 'finished', classification: 'ok' }], 'the round was not cut short');
  t.notOk(existsSync(join(p.stateDir, 'run', 'stop-requested')), 'the honoured request is consumed');

  const s2 = startServe(p);
  await until('second round', () => readRounds(p.stateDir).length >= 2, 20_000);
  writeFileSync(join(p.stateDir, 'run', 'stop-requested'), '');
  const ex = await s2.exited;
  t.equal(ex.code, 0);
  t.ok(kinds(readEvents(p.stateDir)).includes('stop_file_detected'));
});

t.test('crash recovery: a round left running by a killed serve is closed as interrupted; numbers never repeat', async (t) => {
  const p = agentProject('cat > /dev/null\nsleep 30\necho RESULT');
  t.teardown(p.cleanup);
  const s = startServe(p);
  await until('round_start', () => kinds(readEvents(p.stateDir)).includes('round_start'), 20_000);
  s.child.kill('SIGKILL');
  await s.exited;
  t.match(readRounds(p.stateDir), [{ round: 1, status: 'running' }]);
  // The orphaned agent (its own session) is still running; a new serve must not wait for it.
  writeFileSync(join(p.dir, 'agent.sh'), '#!/bin/sh\ncat > /dev/null\necho RESULT\n');
  const r = await runCli(['serve', '--max-rounds', '1'], { cwd: p.dir, env: p.env, timeoutMs: 30_000 });
  t.equal(r.code, 0, r.stderr);
  t.match(readRounds(p.stateDir), [
    { round: 1, status: 'interrupted' },
    { round: 2, status: 'finished' },
  ]);
  t.match(
    readEvents(p.stateDir).find((e) => e['kind'] === 'round_interrupted'),
    { round: 1, reason: 'process_gone' },
  );
});

t.test('no orphaned round: the agent group a SIGKILLed serve left behind is ended before the next round starts', async (t) => {
  const p = agentProject('cat > /dev/null\nsleep 60 &\nwait\necho RESULT');
  t.teardown(p.cleanup);
  const s = startServe(p);
  t.teardown(() => s.child.kill('SIGKILL'));
  await until('round 1 records its agent group', () => typeof readRounds(p.stateDir)[0]?.['agent_pgid'] === 'number', 20_000);
  const pgid = Number(readRounds(p.stateDir)[0]?.['agent_pgid']);
  s.child.kill('SIGKILL');
  await s.exited;
  const alive = (): boolean =>
    readdirSync('/proc').some(
      (d) =>
        /^\d+$/.test(d) &&
        (() => {
          try {
            const f = readFileSync(`/proc/${d}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
            return f[2] === String(pgid) && f[0] !== 'Z'; // a zombie waits for its reaper, it runs nothing
          } catch {
            return false;
          }
        })(),
    );
  t.ok(alive(), `the agent group ${pgid} outlived serve`);
  writeFileSync(join(p.dir, 'agent.sh'), '#!/bin/sh\ncat > /dev/null\necho RESULT\n');
  const r = await runCli(['serve', '--max-rounds', '1'], { cwd: p.dir, env: p.env, timeoutMs: 30_000 });
  t.equal(r.code, 0, r.stderr);
  t.notOk(alive(), 'no process of the old group is left');
  const ev = readEvents(p.stateDir);
  const ended = ev.findIndex((e) => e['kind'] === 'orphan_group_ended');
  t.match(ev[ended], { round: 1, pgid, kill_sent: false, remaining: 0 });
  t.ok(ended >= 0 && ended < ev.findIndex((e) => e['kind'] === 'round_start' && e['round'] === 2), 'ended before round 2 started');
  t.match(readRounds(p.stateDir), [
    { round: 1, status: 'interrupted' },
    { round: 2, status: 'finished' },
  ]);
});

t.test('peek --log shows a stream-json round as a transcript; --raw as the agent wrote it', async (t) => {
  const capture = fileURLToPath(new URL('../../runner/test/fixtures/claude/claude-2.1.330-success-write-tool.jsonl', import.meta.url));
  const p = agentProject(`cat > /dev/null\ncat '${capture}'`);
  t.teardown(p.cleanup);
  await runCli(['serve', '--max-rounds', '1'], { cwd: p.dir, env: p.env, timeoutMs: 30_000 });
  const log = await runCli(['peek', '--log'], { cwd: p.dir, env: p.env });
  t.equal(log.code, 0, log.stderr);
  t.match(log.stdout, /^assistant: Creating the file\.\ntool: Write \S+hello\.txt\n {2}⎿ File created successfully/m);
  t.match(log.stdout, /^result: success, 0\.3 s, 2 turns, \$0\.0159/m);
  t.notMatch(log.stdout, /"type":/, 'no raw JSON');
  const raw = await runCli(['peek', '--log', '--raw', '--lines', '2'], { cwd: p.dir, env: p.env });
  t.same(
    raw.stdout
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as { type?: string }).type),
    ['assistant', 'result'],
    'the last two lines as written',
  );
  const json = JSON.parse((await runCli(['peek', '--log', '--json', '--lines', '1'], { cwd: p.dir, env: p.env })).stdout) as {
    lines: string[];
  };
  t.match(json.lines, [/^result: success/]);
});

t.test('peek --json answers from the ledger and recent events', async (t) => {
  const p = agentProject('cat > /dev/null\necho RESULT');
  t.teardown(p.cleanup);
  await runCli(['serve', '--max-rounds', '2'], { cwd: p.dir, env: p.env, timeoutMs: 30_000 });
  const r = await runCli(['peek', '--json'], { cwd: p.dir, env: p.env });
  t.equal(r.code, 0, r.stderr);
  const snap = JSON.parse(r.stdout) as Record<string, unknown>;
  t.match(snap, { schema_version: 1, project: 'proj', service: { state: 'stopped' }, counts_24h: { ok: 2 }, today: { rounds: 2 } });
  t.equal((snap['rounds'] as unknown[]).length, 2);
  const sel = await runCli(['peek', '--select', 'rounds.0.classification'], { cwd: p.dir, env: p.env });
  t.equal(sel.stdout.trim(), 'ok');
  const log = await runCli(['peek', '--round', 'latest', '--log', '--lines', '5'], { cwd: p.dir, env: p.env });
  t.match(log.stdout, /RESULT/);
  const human = await runCli(['peek'], { cwd: p.dir, env: p.env });
  t.match(human.stdout, /project proj {2}STOPPED/);
  const ev = await runCli(['events', '--kind', 'round_end', '--json'], { cwd: p.dir, env: p.env });
  t.equal(ev.stdout.trim().split('\n').length, 2);
  const bad = await runCli(['events', '--kind', 'round_ends'], { cwd: p.dir, env: p.env });
  t.equal(bad.code, 64);
});

t.test("git hygiene never stashes the operator's uncommitted edits of the config or the prompt", async (t) => {
  const p = agentProject('cat > /dev/null\necho work > agent-work.txt\necho RESULT');
  t.teardown(p.cleanup);
  p.write('agent-runner.toml', `${readFileSync(join(p.dir, 'agent-runner.toml'), 'utf8')}# edited by the operator\n`);
  p.write('PROMPT.md', 'A new prompt, not committed yet.\n');
  const r = await runCli(['serve', '--max-rounds', '1'], { cwd: p.dir, env: p.env, timeoutMs: 30_000 });
  t.equal(r.code, 0, r.stderr);
  t.match(readFileSync(join(p.dir, 'agent-runner.toml'), 'utf8'), /# edited by the operator/, 'config edit kept');
  t.equal(readFileSync(join(p.dir, 'PROMPT.md'), 'utf8'), 'A new prompt, not committed yet.\n', 'prompt edit kept');
  t.notOk(existsSync(join(p.dir, 'agent-work.txt')), "the agent's work was stashed");
  t.match(p.git('stash', 'show', '--include-untracked', '--name-only', 'stash@{0}'), /agent-work\.txt/);
});
