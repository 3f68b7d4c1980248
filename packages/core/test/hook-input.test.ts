/**
 * The hook input built from disk (core/hook-input): the last ended round from a real ledger
 * plus its round events (summary, stash and commit SHAs), the round each event is about, the
 * persisted hook context (missing or corrupt: {}), and the document a real hook reads.
 */
import t, { type Test } from 'tap';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { configPaths, parseConfig } from '../src/config/index.js';
import type { HookConfig } from '../src/config/types.js';
import { EventWriter } from '../src/events/writer.js';
import { buildHookInput, readHooksContext, roundOutcome, RoundOutcomeReader } from '../src/hook-input.js';
import { runHook } from '../src/hooks.js';
import { openLedger, type RunnerIdentity } from '../src/ledger/index.js';

const RUNNER: RunnerIdentity = { pid: 4242, bootId: 'boot-a', starttimeTicks: 123456, nonce: 'nonce-1' };
const T0 = Date.parse('2026-03-01T10:00:00Z');

function project(t: Test, extra = '') {
  const dir = t.testdir();
  const cfg = parseConfig(
    `project = "p"\n[agent]\ncommand = ["true"]\n[prompt]\nfile = "PROMPT.md"\n[runtime]\nwork_dir = "${dir}"\nstate_dir = "${dir}/state"\n${extra}`,
    join(dir, 'agent-runner.toml'),
    { env: { HOME: dir }, mode: 'user', skipFileChecks: true },
  );
  const paths = configPaths(cfg);
  mkdirSync(paths.stateDir, { recursive: true });
  let clock = T0;
  const ledger = openLedger(paths.ledgerPath, { now: () => clock });
  const events = new EventWriter({ dir: paths.eventsDir, project: 'p', unit: 'runner', now: () => clock });
  t.teardown(() => {
    events.close();
    ledger.close();
  });
  return { dir, cfg, paths, ledger, events, tick: (ms: number) => (clock += ms), now: () => clock };
}

const hook = (on: HookConfig['on'], name = 'h'): HookConfig => ({
  name,
  on,
  command: ['/bin/true'],
  timeout_s: 5,
  on_failure: 'continue',
  enabled: true,
  pass_env: [],
});
const roundEnd = (over: Record<string, unknown> = {}) => ({
  phase: 'default',
  exit_code: 0,
  signal: null,
  duration_s: 42,
  classification: 'ok',
  output_bytes: 10,
  usage: null,
  cost_usd: null,
  evidence: [],
  ...over,
});

t.test('the last ended round: ledger row plus the summary and SHAs of its events', async (t) => {
  const p = project(t);
  const r1 = p.ledger.runner.startRound({ runner: RUNNER, agent: 'claude' });
  p.events.emit('round_start', { phase: 'default', prompt_bytes: 10, log_file: '/x', agent: 'claude' }, { round: r1 });
  p.tick(42_000);
  p.events.emit('vcs_stashed', { sha: 'a'.repeat(40), files: 2 }, { round: r1 });
  p.ledger.runner.finishRound(r1, {
    classification: 'ok',
    exitCode: 0,
    durationMs: 42_000,
    inputTokens: 1200,
    outputTokens: 300,
    costUsd: 0.25,
  });
  p.events.emit('round_end', roundEnd({ summary: 'result:   wrote the\nparser' }), { round: r1 });
  p.tick(1000);
  const r2 = p.ledger.runner.startRound({ runner: RUNNER, agent: 'claude' });
  p.events.emit('round_start', { phase: 'default', prompt_bytes: 10, log_file: '/x', agent: 'claude' }, { round: r2 });
  p.tick(5000);
  p.events.emit('vcs_committed', { sha: 'b'.repeat(40), files: 1 }, { round: r2 });
  p.ledger.runner.finishRound(r2, { classification: 'crash', exitCode: null, signal: 'SIGKILL', durationMs: 5000 });
  p.events.emit('round_end', roundEnd({ exit_code: null, signal: 'SIGKILL', classification: 'crash' }), { round: r2 });

  const one = roundOutcome(p.ledger.runner.getRound(r1)!, p.paths.eventsDir);
  t.same(
    one,
    {
      round: 1,
      class: 'ok',
      exit_code: 0,
      signal: null,
      duration_s: 42,
      summary: 'result: wrote the parser',
      usage: { input_tokens: 1200, output_tokens: 300 },
      cost_usd: 0.25,
      stash_sha: 'a'.repeat(40),
      commit_sha: null,
    },
    "round 1: its own stash, not round 2's commit; summary on one line",
  );
  const two = roundOutcome(p.ledger.runner.getRound(r2)!, p.paths.eventsDir);
  t.same(
    two,
    {
      round: 2,
      class: 'crash',
      exit_code: null,
      signal: 'SIGKILL',
      duration_s: 5,
      summary: 'crash (killed by SIGKILL) after 5 s',
      usage: null,
      cost_usd: null,
      stash_sha: null,
      commit_sha: 'b'.repeat(40),
    },
    'no summary in its round_end: one made from the row',
  );
  t.match(
    roundOutcome(p.ledger.runner.getRound(r1)!),
    { stash_sha: null, summary: 'ok (exit 0) after 42 s' },
    'without events: the row alone',
  );

  // A running round: detector sees it as `round`, the last ended one as previous_round.
  p.tick(1000);
  const r3 = p.ledger.runner.startRound({ runner: RUNNER });
  const det = buildHookInput(hook('detector'), { cfg: p.cfg, paths: p.paths, rounds: p.ledger.runner, host: 'pi' });
  t.match(det, {
    version: 1,
    event: 'detector',
    hook: 'h',
    project: 'p',
    host: 'pi',
    work_dir: p.dir,
    config_file: join(p.dir, 'agent-runner.toml'),
    round: r3,
    previous_round: { round: 2, class: 'crash' },
    context: {},
  });
  t.notOk('prompt' in det || 'dirty_files' in det, 'no fields of other events');
  t.match(
    buildHookInput(hook('post_round'), { cfg: p.cfg, paths: p.paths, rounds: p.ledger.runner }),
    { round: 2, previous_round: { round: 2 } },
    'post_round: the round that ended',
  );
  const pre = buildHookInput(hook('pre_round'), { cfg: p.cfg, paths: p.paths, rounds: p.ledger.runner, prompt: 'Do it.' });
  t.match(pre, { round: 4, prompt: 'Do it.', previous_round: { round: 2 } }, 'pre_round: the next round');
  t.same(buildHookInput(hook('dirty_tree'), { cfg: p.cfg, paths: p.paths, rounds: p.ledger.runner, dirtyFiles: ['a.txt'] }).dirty_files, [
    'a.txt',
  ]);

  // An interrupted round ends too.
  p.ledger.runner.markInterrupted(r3, 'runner restarted');
  t.match(buildHookInput(hook('detector'), { cfg: p.cfg, paths: p.paths, rounds: p.ledger.runner }).previous_round, {
    round: 3,
    class: 'interrupted',
    summary: 'interrupted: runner restarted',
  });
});

t.test('no ledger, no rounds: round 1 next, no previous round', async (t) => {
  const p = project(
    t,
    '[phases]\nlist = ["plan", "build"]\n[phases.plan]\nprompt.files = ["PLAN.md"]\n[phases.build]\nprompt.files = ["BUILD.md"]\n',
  );
  t.match(buildHookInput(hook('serve_start'), { cfg: p.cfg, paths: p.paths, rounds: undefined }), {
    round: 1,
    phase: 'plan',
    previous_round: null,
    context: {},
  });
  t.match(buildHookInput(hook('detector'), { cfg: p.cfg, paths: p.paths, rounds: p.ledger.runner }), {
    round: null,
    phase: null,
    previous_round: null,
  });
  p.ledger.runner.finishRound(p.ledger.runner.startRound({ runner: RUNNER, phase: 'plan' }), { classification: 'ok', exitCode: 0 });
  t.match(
    buildHookInput(hook('pre_round'), { cfg: p.cfg, paths: p.paths, rounds: p.ledger.runner }),
    { round: 2, phase: 'build', prompt: '' },
    'phases rotate by round number',
  );
});

t.test('the persisted context: the fields when the file is an object, {} otherwise', async (t) => {
  const p = project(t);
  const file = p.paths.hookContextFile;
  t.equal(file, join(p.paths.stateDir, 'hooks-context.json'));
  t.same(readHooksContext(file), {}, 'missing');
  writeFileSync(file, '{"next_task":"write the parser","tests":{"passed":3,"failed":0}}');
  t.same(buildHookInput(hook('detector'), { cfg: p.cfg, paths: p.paths, rounds: p.ledger.runner }).context, {
    next_task: 'write the parser',
    tests: { passed: 3, failed: 0 },
  });
  for (const bad of ['{"next_task": "cut sho', '[1,2]', 'null', '"text"', '']) {
    writeFileSync(file, bad);
    t.same(readHooksContext(file), {}, `corrupt: ${JSON.stringify(bad)}`);
  }
  writeFileSync(file, `{"x":"${'y'.repeat(1024 * 1024)}"}`);
  t.same(readHooksContext(file), {}, 'oversized');
});

t.test("the reader scans a round's events once it saw its round_end", async (t) => {
  const p = project(t);
  const r = p.ledger.runner.startRound({ runner: RUNNER });
  p.tick(1000);
  p.ledger.runner.finishRound(r, { classification: 'ok', exitCode: 0 });
  const reader = new RoundOutcomeReader(p.paths.eventsDir, p.now);
  t.match(reader.outcome(p.ledger.runner.getRound(r)!), { summary: 'ok (exit 0) after 1 s' }, 'polled between finishRound and round_end');
  p.events.emit('round_end', roundEnd({ summary: 'did the thing' }), { round: r });
  t.match(reader.outcome(p.ledger.runner.getRound(r)!), { summary: 'did the thing' }, 'not cached before its round_end');
  p.events.emit('vcs_committed', { sha: 'c'.repeat(40) }, { round: r });
  t.match(reader.outcome(p.ledger.runner.getRound(r)!), { commit_sha: null }, 'cached once complete (later events are not read again)');
});

t.test('a real hook reads the built document on stdin', async (t) => {
  const p = project(t);
  p.ledger.runner.finishRound(p.ledger.runner.startRound({ runner: RUNNER }), { classification: 'ok', exitCode: 0, durationMs: 3000 });
  writeFileSync(p.paths.hookContextFile, '{"next_task":"x"}');
  const script = join(p.dir, 'echo.sh');
  writeFileSync(
    script,
    `#!/bin/sh\nnode -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const i=JSON.parse(s);console.log(JSON.stringify({alerts:[{title:"r"+i.round+" prev "+i.previous_round.class+" task "+i.context.next_task}]}))})'\n`,
  );
  chmodSync(script, 0o755);
  const h = { ...hook('detector'), command: [script] };
  const r = await runHook(h, buildHookInput(h, { cfg: p.cfg, paths: p.paths, rounds: p.ledger.runner }), {
    cwd: p.dir,
    env: { PATH: process.env['PATH'] ?? '' },
    kill: (pid, sig) => void process.kill(pid, sig),
  });
  t.match(r, { ok: true, answer: { alerts: [{ title: 'r1 prev ok task x' }] } });
});
