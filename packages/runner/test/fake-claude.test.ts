// The fake Claude CLI (compiled, a real child process) through the runner's own round path —
// spawnAgent with the claude preset's argv and stdin prompt, superviseRound feeding the REAL
// claude classifier live — gives every scenario the class it stands for, with the side
// effects the soak relies on (a commit, a dirty file, usage and cost, a reset time).
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  FAKE_SCENARIOS,
  SCENARIO_CLASS,
  fakeClaudeDir,
  type FakePlan,
  type JournalEntry,
  type PlanEntry,
} from '@agent-runner/testkit/fake-claude';
import { claudeAdapter } from '../src/adapters/claude.js';
import { spawnAgent } from '../src/agent-process.js';
import { superviseRound, type SuperviseResult } from '../src/supervise.js';

const BIN = fileURLToPath(import.meta.resolve('@agent-runner/testkit/fake-claude-bin'));
const root = mkdtempSync(join(tmpdir(), 'ar-fake-claude-'));
const home = join(root, 'home');
const wt = join(root, 'wt');
const ctl = fakeClaudeDir(home);
mkdirSync(ctl, { recursive: true });
mkdirSync(wt);
const git = (...a: string[]): string => execFileSync('git', a, { cwd: wt, encoding: 'utf8' }).trim();
git('init', '-q', '-b', 'main');
git('config', 'user.name', 'soak');
git('config', 'user.email', 'soak@example.invalid');
git('commit', '-q', '--allow-empty', '-m', 'initial');
t.teardown(() => rmSync(root, { recursive: true, force: true }));

// A shim named like the real CLI, so argv[0] resolves the way the preset's `claude` does.
const binDir = join(root, 'bin');
mkdirSync(binDir);
writeFileSync(join(binDir, 'claude'), `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(BIN)} "$@"\n`, { mode: 0o755 });

let round = 0;
const journal = (): JournalEntry[] =>
  readFileSync(join(ctl, 'journal.jsonl'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as JournalEntry);

async function play(entry: PlanEntry | 'logged-out'): Promise<{ r: SuperviseResult; round: number; ms: number }> {
  round += 1;
  const plan: FakePlan = { default: { scenario: 'success' }, rounds: entry === 'logged-out' ? {} : { [round]: entry } };
  writeFileSync(join(ctl, 'plan.json'), JSON.stringify(plan));
  if (entry === 'logged-out') writeFileSync(join(ctl, 'logged-out'), '');
  else rmSync(join(ctl, 'logged-out'), { force: true });
  const started = Date.now();
  const handle = await spawnAgent({
    argv: claudeAdapter.preset.command,
    cwd: wt,
    env: {
      PATH: `${binDir}:${process.env['PATH'] ?? '/usr/bin:/bin'}`,
      HOME: home,
      AGENT_RUNNER_ROUND: String(round),
      ...claudeAdapter.preset.env,
    },
    delivery: { mode: 'stdin' },
    prompt: 'Do the next task.\n',
    terminal: 'pipe',
  });
  const r = await superviseRound({
    handle,
    classifier: claudeAdapter.createClassifier(),
    startedAtMs: started,
    limits: { roundTimeoutMs: 30_000, inactivityTimeoutMs: 2000, graceAfterResultMs: 5000, killGraceMs: 500, ignorePatterns: [] },
    kill: (pid, sig) => process.kill(pid, sig),
  });
  handle.dispose();
  return { r, round, ms: Date.now() - started };
}

t.test('every scenario gets its class from the real claude classifier', async (t) => {
  for (const scenario of FAKE_SCENARIOS) {
    const { r, ms } = await play({ scenario, slow_s: 2, large_bytes: 1024 * 1024 });
    t.equal(r.verdict.class, SCENARIO_CLASS[scenario], `${scenario}: ${r.verdict.summary} (${ms} ms)`);
  }
  git('clean', '-fdq');
});

t.test('success: usage and cost from the result, its file committed', async (t) => {
  const { r, round: n } = await play({ scenario: 'success' });
  t.same(r.verdict.usage, { input_tokens: 2500, output_tokens: 100, cache_read_tokens: 7000, cache_creation_tokens: 500 });
  t.equal(r.verdict.cost_usd, 0.0159);
  const end = journal().find((e) => e.round === n && e.phase === 'end');
  t.equal(end?.committed, true);
  t.equal(git('rev-parse', 'HEAD'), end?.sha, 'the commit is HEAD');
  t.equal(git('show', '--format=', '--name-only', 'HEAD'), `soak/r${n}.txt`, 'the commit holds only its own file');
  t.equal(git('status', '--porcelain'), '', 'the tree is clean');
});

t.test('dirty: the file is left uncommitted', async (t) => {
  const { r, round: n } = await play({ scenario: 'dirty' });
  t.equal(r.verdict.class, 'ok');
  t.equal(git('status', '--porcelain'), `?? soak/r${n}.txt`);
  t.equal(journal().find((e) => e.round === n && e.phase === 'end')?.committed, false);
  rmSync(join(wt, 'soak', `r${n}.txt`));
});

t.test('rate_limit: resetsAt is reset_s ahead of the invocation', async (t) => {
  const { r } = await play({ scenario: 'rate_limit', reset_s: 7 });
  const ahead = (r.verdict.reset_at_ms ?? 0) - Date.now();
  t.ok(ahead > 4000 && ahead <= 7000, `reset ${ahead} ms ahead`);
});

t.test('auth: the logged-out flag beats the plan, and the round is ended at the first 401', async (t) => {
  const { r } = await play('logged-out');
  t.equal(r.verdict.class, 'auth');
  t.equal(r.killedBy, 'fatal', 'killed live, not left to retry');
  t.match(r.verdict.summary, /401/);
});

t.test('hang: killed for inactivity, classed hang', async (t) => {
  const { r, ms } = await play({ scenario: 'hang' });
  t.equal(r.killedBy, 'inactivity');
  t.ok(ms < 6000, `${ms} ms`);
});

t.test('large_output: the burst reaches the classifier and the round is still ok', async (t) => {
  const { r } = await play({ scenario: 'large_output', large_bytes: 8 * 1024 * 1024 });
  t.equal(r.verdict.class, 'ok');
  t.ok(r.outcome.outputBytes > 8 * 1024 * 1024, `${r.outcome.outputBytes} bytes`);
});

t.test('an argv without stream-json is a usage error (config)', async (t) => {
  round += 1;
  const handle = await spawnAgent({
    argv: [join(binDir, 'claude'), '-p'],
    cwd: wt,
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: home, AGENT_RUNNER_ROUND: String(round) },
    delivery: { mode: 'stdin' },
    prompt: 'x',
    terminal: 'pipe',
  });
  const r = await superviseRound({
    handle,
    classifier: claudeAdapter.createClassifier(),
    limits: { roundTimeoutMs: 10_000, inactivityTimeoutMs: 0, graceAfterResultMs: 1000, killGraceMs: 200, ignorePatterns: [] },
    kill: (pid, sig) => process.kill(pid, sig),
  });
  handle.dispose();
  t.equal(r.verdict.class, 'config', r.verdict.summary);
});
