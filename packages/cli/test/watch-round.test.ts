import t from 'tap';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as pty from 'node-pty';
import { CLI_BIN, runCli } from '@agent-runner/testkit/project';
import { fileURLToPath } from 'node:url';
import { until } from '@agent-runner/testkit/until';
import { alarmsOf, agentProject, readEvents, readRounds, runFile } from './serve-helpers.js';

const PHASES = '[phases]\nlist = ["explore", "tidy"]\n[phases.tidy]\nprompt.file = "TIDY.md"\n';

t.test('phases rotate by round number; `round --phase` runs the one asked for', async (t) => {
  const p = agentProject('echo "prompt: $(cat)"\necho "phase $AGENT_RUNNER_PHASE"\necho RESULT', '', PHASES);
  t.teardown(p.cleanup);
  p.write('TIDY.md', 'Tidy up.\n');
  p.git('add', '-A');
  p.git('commit', '-qm', 'tidy prompt');
  const r = await runCli(['serve', '--max-rounds', '3'], { cwd: p.dir, env: p.env, timeoutMs: 60_000 });
  t.equal(r.code, 0, r.stderr);
  t.same(
    readRounds(p.stateDir).map((x) => x['phase']),
    ['explore', 'tidy', 'explore'],
  );
  const ends = readEvents(p.stateDir).filter((e) => e['kind'] === 'round_end');
  t.same(
    ends.map((e) => e['phase']),
    ['explore', 'tidy', 'explore'],
  );
  const one = await runCli(['round', '--phase', 'tidy'], { cwd: p.dir, env: p.env, timeoutMs: 30_000 });
  t.equal(one.code, 0, one.stderr);
  const last = readRounds(p.stateDir).at(-1);
  t.match(last, { round: 4, phase: 'tidy', classification: 'ok' });
  const log = await runCli(['peek', '--round', '4', '--log'], { cwd: p.dir, env: p.env });
  t.match(log.stdout, /prompt: Tidy up\./, 'the phase prompt, front matter and all, reached the agent on stdin');
  t.match(log.stdout, /phase tidy/);
  const bad = await runCli(['round', '--phase', 'nope'], { cwd: p.dir, env: p.env });
  t.equal(bad.code, 64);
  t.match(bad.stderr, /unknown phase "nope"/);
});

t.test('watch: plain snapshots when stdout is not a terminal', async (t) => {
  const p = agentProject('cat > /dev/null\necho RESULT');
  t.teardown(p.cleanup);
  const child = spawn(process.execPath, [CLI_BIN, 'watch', '--interval', '0.3'], { cwd: p.dir, env: p.env });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  await until('two snapshots', () => (out.match(/project proj {2}STOPPED/g) ?? []).length >= 2, 20_000);
  child.kill('SIGTERM');
  t.equal(await new Promise((r) => child.on('close', r)), 0);
  t.ok((out.match(/project proj {2}STOPPED/g) ?? []).length >= 2, 'several snapshots');
  t.notMatch(out, /\x1b\[/, 'no escape sequences');
});

t.test('watch: redraws in place on a real terminal, without clearing the screen', async (t) => {
  const p = agentProject('cat > /dev/null\necho RESULT');
  t.teardown(p.cleanup);
  const term = pty.spawn(process.execPath, [CLI_BIN, 'watch', '--interval', '0.3'], { cwd: p.dir, env: p.env, cols: 120, rows: 40 });
  let out = '';
  term.onData((d) => (out += d));
  await until('two frames', () => (out.match(/\x1b\[\?2026h/g) ?? []).length >= 2, 20_000);
  const exited = new Promise<number>((r) => term.onExit(({ exitCode }) => r(exitCode)));
  term.kill('SIGTERM');
  t.equal(await exited, 0);
  t.ok((out.match(/\x1b\[\?2026h\x1b\[1;1H/g) ?? []).length >= 2, 'each frame a synchronized update from the first row');
  t.notMatch(out, /\x1b\[2J/, 'never a full clear (no flicker)');
  t.match(out, /\x1b\[K/, 'each line cleared to its end');
  t.match(out, /\x1b\[\?1049l/, 'the alternate screen is left on exit');
});

// Claude Code's real stream-json of a rejected API key (see packages/runner/test/fixtures/claude),
// then a CLI that would go on retrying for minutes.
const AUTH_401 = fileURLToPath(new URL('../../runner/test/fixtures/claude/claude-2.1.330-auth-401.jsonl', import.meta.url));

t.test('one-shot verbs return after their last round whatever its class: a 401 exits 77, a rate limit does not back off', async (t) => {
  const p = agentProject(`cat > /dev/null\ncat '${AUTH_401}'\nsleep 120`, '', '[runtime.auth]\nprobe_interval_s = 300\n');
  t.teardown(p.cleanup);
  p.write('agent-runner.toml', readFileSync(join(p.dir, 'agent-runner.toml'), 'utf8').replace('[agent]\n', '[agent]\npreset = "claude"\n'));
  p.git('commit', '-qam', 'claude preset');
  const started = Date.now();
  const r = await runCli(['round'], { cwd: p.dir, env: p.env, timeoutMs: 60_000 });
  const tookMs = Date.now() - started;
  t.equal(r.code, 77, r.stderr);
  t.ok(tookMs < 20_000, `round returned after ${tookMs} ms (no 300 s auth probe wait)`);
  t.match(r.stderr, /authentication failed: .*claude \/login/);
  t.match(readRounds(p.stateDir), [{ round: 1, classification: 'auth', status: 'finished' }]);
  t.match(readEvents(p.stateDir).at(-1), { kind: 'serve_stopped', reason: 'max_rounds', exit_code: 77 });
  t.match(runFile(p.stateDir, 'exit-runner.json'), { exit_code: 77, reason: 'max_rounds' });
  t.same(alarmsOf(p.stateDir, 'auth_paused').alarms, [], 'no phone alarm: nothing is paused, the caller has the exit code');

  const once = await runCli(['serve', '--once'], { cwd: p.dir, env: p.env, timeoutMs: 60_000 });
  t.equal(once.code, 77, once.stderr);

  const q = agentProject('cat > /dev/null\nif [ "$AGENT_RUNNER_ROUND" = 2 ]; then echo "RATE LIMITED try later"; exit 1; fi\necho RESULT');
  t.teardown(q.cleanup);
  const t0 = Date.now();
  const two = await runCli(['serve', '--max-rounds', '2'], { cwd: q.dir, env: q.env, timeoutMs: 60_000 });
  t.equal(two.code, 0, two.stderr);
  t.same(
    readRounds(q.stateDir).map((x) => x['classification']),
    ['ok', 'rate_limit'],
  );
  t.ok(Date.now() - t0 < 10_000, `returned after ${Date.now() - t0} ms, not after the 30 s back-off`);
  t.notOk(
    readEvents(q.stateDir).some((e) => e['kind'] === 'backoff_started'),
    'no back-off after the last round',
  );
});
