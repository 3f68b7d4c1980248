// The main job end to end on a real agent: `agent-runner serve` runs the real Claude Code CLI
// (pinned devDependency) against a local Messages API stub on 127.0.0.1, for three rounds in
// which the stub makes the CLI use its real tools to edit the work tree.
import t from 'tap';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startAnthropicStub, type StubRequest, type StubReply } from '@agent-runner/testkit/anthropic-stub';
import { claudeBin } from '@agent-runner/testkit/claude-cli';
import { runCli, tempProject } from '@agent-runner/testkit/project';
import { readEvents, readRounds } from './serve-helpers.js';

const bin = claudeBin();
if (!bin) {
  t.fail('node_modules/.bin/claude is missing: the root devDependency @anthropic-ai/claude-code did not install');
} else {
  t.test('serve: three rounds of the real Claude Code CLI editing the work tree', async (t) => {
    const p = tempProject('claude-e2e', { 'PROMPT.md': 'Write your notes.\n', '.gitignore': '/.state/\n' });
    t.teardown(p.cleanup);
    const stateDir = join(p.dir, '.state');
    // The prepended context block carries the round number (`- round: N`); the stub keys its
    // script on it. Per round: Write a file (round 1, 2) or Edit README (round 3), then end the turn; round 2
    // also commits through Bash, so rounds 1 and 3 leave the tree dirty for git hygiene.
    const round = (req: StubRequest): number => {
      const body = JSON.stringify(req.body ?? '');
      const m = /- round: (\d+)/.exec(body);
      return m ? Number(m[1]) : 0;
    };
    const stub = await startAnthropicStub({
      script: (req): StubReply => {
        const n = round(req);
        const hasResult = JSON.stringify(req.body).includes('tool_result');
        if (hasResult)
          return {
            kind: 'text',
            text: `Done with round ${n}.`,
            usage: { input_tokens: 1300, output_tokens: 20, cache_read_input_tokens: 4000 },
          };
        if (n === 2) {
          return {
            kind: 'tool_use',
            name: 'Bash',
            input: {
              command: 'echo two > two.txt && git add two.txt && git -c user.name=agent -c user.email=a@b commit -qm "round 2 notes"',
              description: 'commit notes',
            },
            usage: { input_tokens: 1200, output_tokens: 80, cache_read_input_tokens: 3000, cache_creation_input_tokens: 500 },
          };
        }
        return {
          kind: 'tool_use',
          name: 'Write',
          input: { file_path: join(p.dir, `round-${n}.txt`), content: `notes of round ${n}\n` },
          usage: { input_tokens: 1200, output_tokens: 80, cache_read_input_tokens: 3000, cache_creation_input_tokens: 500 },
        };
      },
    });
    t.teardown(() => stub.close());
    p.write(
      'agent-runner.toml',
      `[agent]
preset = "claude"
command = [${JSON.stringify(bin)}, "-p", "--output-format", "stream-json", "--verbose", "--dangerously-skip-permissions"]
prompt_delivery = "stdin"
env = { ANTHROPIC_BASE_URL = "${stub.url}", ANTHROPIC_API_KEY = "sk-ant-test-key-0000000000000000", IS_SANDBOX = "1", CLAUDE_CODE_MAX_RETRIES = "1", HTTPS_PROXY = "http://127.0.0.1:9", HTTP_PROXY = "http://127.0.0.1:9", NO_PROXY = "127.0.0.1,localhost" }
[prompt]
file = "PROMPT.md"
[runtime]
state_dir = ".state"
restart_delay_s = 0
context = "prepend"
round_timeout_s = 120
[vcs]
dirty_action = "stash"
`,
    );
    p.git('add', '-A');
    p.git('commit', '-qm', 'agent-runner config');
    const r = await runCli(['serve', '--max-rounds', '3'], { cwd: p.dir, env: p.env, timeoutMs: 240_000 });
    t.equal(r.code, 0, r.stderr);
    const rows = readRounds(stateDir);
    t.equal(rows.length, 3);
    for (const row of rows) {
      t.match(row, { status: 'finished', classification: 'ok', exit_code: 0, agent: 'claude' }, `round ${String(row['round'])}`);
      t.ok(Number(row['cost_usd']) > 0, "cost from the CLI's result event");
      t.equal(row['input_tokens'], 2500, "input tokens summed over the round's turns, as the CLI reports them");
      t.equal(row['output_tokens'], 100);
    }
    const ends = readEvents(stateDir).filter((e) => e['kind'] === 'round_end');
    t.equal(ends.length, 3);
    t.match(ends[0], { classification: 'ok', usage: { input_tokens: 2500, output_tokens: 100 } });
    t.ok(typeof ends[0]?.['cost_usd'] === 'number');
    const stashes = readEvents(stateDir)
      .filter((e) => e['kind'] === 'vcs_stashed')
      .map((e) => e['round']);
    t.same(stashes, [1, 3], 'rounds that left files uncommitted were stashed; the committing round was not');
    t.match(p.git('log', '--format=%s'), /round 2 notes/, 'the CLI committed through its real Bash tool');
    t.equal(p.git('status', '--porcelain').trim(), '');
    t.match(
      p.git(
        'stash',
        'show',
        '--include-untracked',
        '--name-only',
        String(readEvents(stateDir).find((e) => e['kind'] === 'vcs_stashed')?.['sha']),
      ),
      /round-1\.txt/,
    );
    t.ok(stub.messages().length >= 6, 'two API turns per round (tool use, then the answer after the tool result)');
    t.notOk(existsSync(join(p.dir, 'round-2.txt')));
    t.match(readFileSync(join(stateDir, 'logs', 'round-current.log'), 'utf8'), /"type":"result"/);
  });
}
