/**
 * The three example hooks (examples/hooks/) in a real `serve` of the bundled demo project
 * (examples/demo: its fake agent really edits, commits, leaves the tree dirty, fails), as
 * examples/hooks/README.md says to install them: next-todo's task reaches the agent's context,
 * run-tests' result reaches the next round's context, and the monitor's no-commit detector
 * warns once HEAD stood still for NO_COMMIT_ROUNDS rounds and clears when it moves.
 */
import t from 'tap';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCli, tempProject } from '@agent-runner/testkit/project';
import { localQuery, readEvents } from './serve-helpers.js';

const EXAMPLES = fileURLToPath(new URL('../../../examples/', import.meta.url));

/** The demo project with the example hooks installed (committed, tables added, context on). */
function demoWithHooks() {
  const p = tempProject('demo', {}, { git: false });
  for (const f of ['demo-agent.mjs', 'PROMPT.md']) copyFileSync(join(EXAMPLES, 'demo', f), join(p.dir, f));
  mkdirSync(join(p.dir, 'hooks'));
  for (const f of ['next-todo.sh', 'run-tests.mjs', 'no-commit.sh']) {
    copyFileSync(join(EXAMPLES, 'hooks', f), join(p.dir, 'hooks', f));
  }
  let toml = readFileSync(join(EXAMPLES, 'demo', 'agent-runner.toml'), 'utf8');
  // The agent's prompt is kept outside the work tree (so the tree stays as the agent leaves it).
  toml = toml.replace(
    'command = ["node", "demo-agent.mjs"]',
    'command = ["sh", "-c", "tee \\"$HOME/prompt-$AGENT_RUNNER_ROUND.txt\\" | node demo-agent.mjs"]',
  );
  toml = toml.replace('[runtime]\n', '[runtime]\ncontext = "prepend"\n');
  t.ok(toml.includes('tee ') && toml.includes('context = "prepend"'), 'the demo config has the lines this test edits');
  // Each header's table, as an operator pastes it.
  for (const f of ['next-todo.sh', 'run-tests.mjs', 'no-commit.sh']) {
    const header = readFileSync(join(EXAMPLES, 'hooks', f), 'utf8').split('\n');
    const start = header.findIndex((l) => /^(#|\/\/) {3}\[hooks\./.test(l));
    const table: string[] = [];
    for (let i = start; i < header.length && /^(#|\/\/) {3}\S/.test(header[i] as string); i++)
      table.push((header[i] as string).replace(/^(#|\/\/) {3}/, ''));
    toml += `\n${table.join('\n').replace(/timeout_s = 660 .*/, 'timeout_s = 60')}\n`;
  }
  toml += `\n[agent.env]\nTEST_COMMAND = 'echo "round $AGENT_RUNNER_ROUND tests"; echo "# pass $AGENT_RUNNER_ROUND"; echo "# fail 1"; exit 1'\nTEST_TIMEOUT_S = "30"\nNO_COMMIT_ROUNDS = "2"\nDEMO_AGENT_PACE_MS = "20"\n`;
  writeFileSync(join(p.dir, 'agent-runner.toml'), toml);
  writeFileSync(
    join(p.dir, 'TODO.md'),
    '# TODO\n\n- [x] set up the repository\n- [ ] Write the "parser" for NOTES.md\n- [ ] document it\n',
  );
  writeFileSync(join(p.dir, 'NOTES.md'), '# Notes\n');
  writeFileSync(join(p.dir, '.gitignore'), '/.state/\n');
  p.git('init', '-q', '-b', 'main');
  p.git('add', '-A');
  p.git('commit', '-q', '-m', 'demo project');
  return p;
}

t.test('the example hooks in a real serve of the demo project, and the monitor', async (t) => {
  const p = demoWithHooks();
  t.teardown(p.cleanup);
  const cli = (args: string[]) => runCli(args, { cwd: p.dir, env: p.env, timeoutMs: 90_000 });
  const hooks = await cli(['hooks']);
  t.match(
    hooks.stdout,
    /next-todo +pre_round +yes[^\n]*\nrun-tests +post_round +yes[^\n]*\nno-commit +detector +yes/,
    'the three tables parse as pasted',
  );

  const serve = await cli(['serve', '--max-rounds', '3']);
  t.equal(serve.code, 0, serve.stderr);
  const events = readEvents(join(p.dir, '.state'));
  const failed = events.filter((e) => e['kind'] === 'hook_failed');
  t.same(failed, [], 'no example hook failed');
  t.equal(events.filter((e) => e['kind'] === 'hook_finished' && e['hook'] === 'next-todo').length, 3, 'next-todo ran before each round');
  t.equal(events.filter((e) => e['kind'] === 'hook_finished' && e['hook'] === 'run-tests').length, 3, 'run-tests after each round');
  const prompt = (n: number): string => readFileSync(join(p.home, `prompt-${n}.txt`), 'utf8');
  t.match(prompt(1), /next_task[^\n]*Write the "parser" for NOTES\.md/, "round 1: the first open TODO item is in the agent's context");
  t.notMatch(prompt(1), /set up the repository/, 'not the checked one');
  t.match(prompt(1), /Read NOTES\.md, take the next step/, 'the prompt itself is unchanged');
  t.notMatch(prompt(1), /tests/, 'no test result before the first round ran');
  t.match(prompt(2), /tests[^]*"?passed"?: ?1\b[^]*"?exit_code"?: ?1\b/, "round 2 sees round 1's test result in its context");
  t.match(prompt(3), /"?passed"?: ?2\b/, "round 3 sees round 2's");
  const context = JSON.parse(readFileSync(join(p.dir, '.state', 'hooks-context.json'), 'utf8')) as {
    tests: Record<string, unknown>;
  } & Record<string, unknown>;
  t.match(context, {
    next_task: 'Write the "parser" for NOTES.md',
    tests: { passed: 3, failed: 1, exit_code: 1, tail: /round 3 tests\n# pass 3\n# fail 1/ },
  });
  t.notOk('timed_out' in context['tests']);

  // no-commit: the monitor records HEAD at round 3 (the demo agent committed in it) ...
  const alertLine = (out: string, state: string) =>
    out
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((l) => l['detector'] === 'hook:no-commit:no-commit' && l['state'] === state);
  const first = await cli(['monitor', '--once', '--json']);
  t.notOk(alertLine(first.stdout, 'raised'), 'HEAD just moved: no alert');
  t.match(
    readFileSync(join(p.dir, '.git', 'agent-runner-no-commit'), 'utf8'),
    new RegExp(`^${p.git('rev-parse', 'HEAD').trim()} 3\n$`),
    'its state: HEAD and the round it was seen at, in the git dir',
  );
  t.equal(p.git('status', '--porcelain'), '', 'the state file leaves the tree clean');
  // ... rounds 4 (the demo agent fails) and 5 (it forgets to commit: stashed) do not move it.
  const head = p.git('rev-parse', 'HEAD');
  t.equal((await cli(['serve', '--max-rounds', '2'])).code, 0);
  t.equal(p.git('rev-parse', 'HEAD'), head, 'HEAD stood still for two rounds');
  const second = await cli(['monitor', '--once', '--json']);
  t.equal(second.code, 1, '--once: an alert is active');
  t.match(alertLine(second.stdout, 'raised'), { severity: 'warning', message: 'no commit for 2 rounds' });
  const ledger = join(p.dir, '.state', 'ledger.sqlite3');
  const rows = () => localQuery(ledger, "SELECT kind, severity, title, body, payload FROM outbox WHERE kind = 'hook' ORDER BY id");
  t.equal(rows().length, 1);
  t.match(rows()[0], {
    severity: 'warning',
    title: /: no commit for 2 rounds$/,
    body: /^HEAD is still [0-9a-f]{12}, as at round 3 \(now round 5\)/,
  });
  t.equal((await cli(['monitor', '--once', '--json'])).stdout.includes('"state":"raised"'), false, 'still one alert at the next poll');
  // A commit clears it.
  p.git('commit', '-q', '--allow-empty', '-m', 'by hand');
  const third = await cli(['monitor', '--once', '--json']);
  t.ok(alertLine(third.stdout, 'cleared'), 'HEAD moved: cleared');
  t.match(
    rows().map((r) => JSON.parse(String(r['payload']))['phase']),
    ['alarm', 'recovery'],
    'one alarm, one recovery',
  );
});
