// Operator hooks in a real serve (the built CLI, real shell scripts as agent and hooks, a real
// git work tree): pre_round replaces the prompt (audited), context flows from hooks to the
// agent and the next hooks and survives a restart, dirty_tree decides what happens to the
// tree, every on_failure of a failing, hanging and garbage-printing hook, and peek's view.
import t from 'tap';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { runCli, tempProject, type TempProject } from '@agent-runner/testkit/project';
import { until } from '@agent-runner/testkit/until';
import { alarmsOf, readEvents, readRounds, startServe } from './serve-helpers.js';

type Ev = Record<string, unknown>;
const sha = (s: string): string => createHash('sha256').update(s, 'utf8').digest('hex');
const of = (evs: Ev[], kind: string): Ev[] => evs.filter((e) => e['kind'] === kind);

interface HookSpec {
  on: string;
  /** Body of hooks/NAME.sh (a /bin/sh script, run in the work dir). */
  script: string;
  /** More TOML lines of its table. */
  toml?: string;
}

/**
 * A project whose agent saves the prompt it got in `$HOME/prompt-N.txt` (outside the work
 * tree, so the tree stays clean) and whose hooks are `hooks/NAME.sh`, committed with it.
 */
function hookProject(
  hooks: Record<string, HookSpec>,
  o: { agent?: string; runtime?: string; extra?: string; restartDelayS?: number } = {},
): TempProject & { stateDir: string; read(name: string): string; json(name: string): Record<string, unknown> } {
  const files: Record<string, string> = {
    'agent.sh': `#!/bin/sh\n${o.agent ?? 'cat > "$HOME/prompt-$AGENT_RUNNER_ROUND.txt"\necho RESULT ok'}\n`,
    'PROMPT.md': 'Do the next step.\n',
    '.gitignore': '/.state/\n',
  };
  let toml = `[agent]
command = ["./agent.sh"]
prompt_delivery = "stdin"
[agent.patterns]
result = ["^RESULT"]
[prompt]
file = "PROMPT.md"
[runtime]
state_dir = ".state"
restart_delay_s = ${o.restartDelayS ?? 0}
kill_grace_s = 1
max_grace_after_result_s = 1
${o.runtime ?? ''}
${o.extra ?? ''}
`;
  for (const [name, h] of Object.entries(hooks)) {
    files[`hooks/${name}.sh`] = `#!/bin/sh\n${h.script}\n`;
    toml += `[hooks.${name}]\non = "${h.on}"\ncommand = ["./hooks/${name}.sh"]\n${h.toml ?? ''}\n`;
  }
  files['agent-runner.toml'] = toml;
  const p = tempProject('proj', files);
  return {
    ...p,
    stateDir: join(p.dir, '.state'),
    read: (name) => readFileSync(join(p.home, name), 'utf8'),
    json: (name) => JSON.parse(readFileSync(join(p.home, name), 'utf8')) as Record<string, unknown>,
  };
}

const serve = (p: TempProject, args: string[], env: Record<string, string> = {}) =>
  runCli(['serve', ...args], { cwd: p.dir, env: { ...p.env, ...env }, timeoutMs: 60_000 });

t.test('pre_round: each hook sees the prompt the one before left, the agent gets the last one, every replacement is audited', async (t) => {
  const p = hookProject(
    {
      a: {
        on: 'pre_round',
        script: 'cat > "$HOME/in-a-$AGENT_RUNNER_ROUND.json"\nenv > "$HOME/env-a.txt"\necho \'{"prompt": "Rewritten by a."}\'',
        toml: 'pass_env = ["PASSED_TOKEN"]',
      },
      b: {
        on: 'pre_round',
        script: 'cat > "$HOME/in-b-$AGENT_RUNNER_ROUND.json"\necho \'{"prompt": "Rewritten by b: \\u00fcn\\u00efcode."}\'',
      },
    },
    { extra: '[agent.env]\nFROM_AGENT_ENV = "yes"\n' },
  );
  t.teardown(p.cleanup);
  const r = await serve(p, ['--max-rounds', '2'], { SECRET_TOKEN: 's3cr3t-value-xyz', PASSED_TOKEN: 'passed-value' });
  t.equal(r.code, 0, r.stderr);
  const final = 'Rewritten by b: ünïcode.';
  t.equal(p.read('prompt-1.txt'), final, "the agent got the last hook's prompt (context off: exactly it)");
  t.equal(p.read('prompt-2.txt'), final, 'every round');
  t.same(
    p.json('in-a-1.json'),
    {
      version: 1,
      event: 'pre_round',
      hook: 'a',
      project: 'proj',
      host: hostname(),
      work_dir: p.dir,
      config_file: join(p.dir, 'agent-runner.toml'),
      round: 1,
      phase: null,
      previous_round: null,
      context: {},
      prompt: 'Do the next step.\n',
    },
    'the whole input document of the first hook',
  );
  t.equal(p.json('in-b-1.json')['prompt'], 'Rewritten by a.', "the second hook sees the first one's prompt");
  t.match(
    p.json('in-a-2.json'),
    {
      round: 2,
      previous_round: {
        round: 1,
        class: 'ok',
        exit_code: 0,
        signal: null,
        summary: /RESULT ok/,
        usage: null,
        cost_usd: null,
        stash_sha: null,
        commit_sha: null,
      },
    },
    'round 2 sees round 1',
  );
  t.equal(typeof (p.json('in-a-2.json')['previous_round'] as Ev)['duration_s'], 'number');

  const evs = readEvents(p.stateDir);
  const over = of(evs, 'prompt_overwritten');
  t.same(
    over.filter((e) => e['round'] === 1).map((e) => [e['hook'], e['old_sha256'], e['new_sha256'], e['old_bytes'], e['new_bytes']]),
    [
      ['a', sha('Do the next step.\n'), sha('Rewritten by a.'), 18, 15],
      ['b', sha('Rewritten by a.'), sha(final), 15, Buffer.byteLength(final)],
    ],
  );
  t.equal(over.length, 4, 'two replacements per round');
  t.equal(of(evs, 'round_start')[0]?.['prompt_bytes'], Buffer.byteLength(final), 'round_start counts the prompt the agent got');
  const first = evs.findIndex((e) => e['kind'] === 'round_start');
  t.ok(evs.slice(0, first).filter((e) => e['kind'] === 'hook_finished').length === 2, 'both hooks ran before the round started');

  const env = p.read('env-a.txt');
  t.match(env, /^AGENT_RUNNER_HOOK=a$/m);
  t.match(env, /^AGENT_RUNNER_HOOK_EVENT=pre_round$/m);
  t.match(env, /^AGENT_RUNNER_ROUND=2$/m);
  t.match(env, /^AGENT_RUNNER_PROJECT=proj$/m);
  t.match(env, /^FROM_AGENT_ENV=yes$/m, "the agent's [agent.env]");
  t.match(env, /^PASSED_TOKEN=passed-value$/m, 'a secret named in pass_env');
  t.notMatch(env, /SECRET_TOKEN|s3cr3t/, 'other secrets withheld');
});

t.test(
  "context: post_round answers reach the next round's agent and the next hooks, null removes a field, a restart keeps it",
  async (t) => {
    const p = hookProject(
      {
        s: { on: 'serve_start', script: 'cat > "$HOME/in-s.json"' },
        p1: {
          on: 'post_round',
          script:
            'cat > "$HOME/in-p1-$AGENT_RUNNER_ROUND.json"\necho "{\\"context\\": {\\"tests\\": \\"round $AGENT_RUNNER_ROUND: 3 failing\\", \\"n\\": $AGENT_RUNNER_ROUND}}"',
        },
        p2: {
          on: 'post_round',
          script:
            'cat > "$HOME/in-p2-$AGENT_RUNNER_ROUND.json"\n[ "$AGENT_RUNNER_ROUND" = 2 ] && echo \'{"context": {"n": null}}\'\nexit 0',
        },
      },
      { runtime: 'context = "prepend"' },
    );
    t.teardown(p.cleanup);
    let r = await serve(p, ['--max-rounds', '2']);
    t.equal(r.code, 0, r.stderr);
    t.notMatch(p.read('prompt-1.txt'), /from hooks/, 'no context before any hook answered');
    t.match(
      p.read('prompt-2.txt'),
      /## agent-runner context\n\n- round: 2\n[^]*- from hooks:\n {2}- tests: round 1: 3 failing\n {2}- n: 1\n\nDo the next step\.\n$/,
      "round 2's agent sees round 1's context in its block",
    );
    t.same(p.json('in-p2-1.json')['context'], { tests: 'round 1: 3 failing', n: 1 }, "the next hook's input has it");
    t.same(p.json('in-p1-2.json')['context'], { tests: 'round 1: 3 failing', n: 1 }, "and the next round's hooks");
    t.same(
      JSON.parse(readFileSync(join(p.stateDir, 'hooks-context.json'), 'utf8')),
      { tests: 'round 2: 3 failing' },
      'persisted; n answered null is gone',
    );

    r = await serve(p, ['--max-rounds', '1']);
    t.equal(r.code, 0, r.stderr);
    t.match(
      p.json('in-s.json'),
      {
        event: 'serve_start',
        round: 3,
        context: { tests: 'round 2: 3 failing' },
        previous_round: { round: 2, class: 'ok', exit_code: 0, summary: /RESULT ok/ },
      },
      'a restarted serve reads the context and the last round from disk',
    );
    t.match(p.read('prompt-3.txt'), /- from hooks:\n {2}- tests: round 2: 3 failing\n\n/, 'the agent after the restart sees it');

    writeFileSync(join(p.stateDir, 'hooks-context.json'), '{"tests": "half-writ');
    r = await serve(p, ['--max-rounds', '1']);
    t.equal(r.code, 0, 'a corrupt context file is no crash');
    t.match(r.stderr, /hook context .*hooks-context\.json is not JSON.*empty context/);
    t.same(p.json('in-s.json')['context'], {}, 'it reads as the empty context');
    t.notMatch(p.read('prompt-4.txt'), /from hooks/);
    t.same(
      JSON.parse(readFileSync(join(p.stateDir, 'hooks-context.json'), 'utf8')),
      { tests: 'round 4: 3 failing', n: 4 },
      'and is rewritten whole',
    );
  },
);

t.test('dirty_tree: commit, ignore, handled by the hook, no answer (vcs.dirty_action)', async (t) => {
  const p = hookProject(
    {
      d: {
        on: 'dirty_tree',
        script: `cat > "$HOME/in-d-$AGENT_RUNNER_ROUND.json"
case $AGENT_RUNNER_ROUND in
  1) echo '{"action": "commit"}' ;;
  2) echo '{"action": "ignore"}' ;;
  3) git add -A >/dev/null && git commit -qm "committed by the hook" >/dev/null && echo '{"action": "handled"}' ;;
esac
exit 0`,
        // core's isSecretKey takes GIT_AUTHOR_* for secrets (`auth`): a hook that commits is given them.
        toml: 'pass_env = ["GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL"]',
      },
    },
    { agent: 'cat > /dev/null\necho "work $AGENT_RUNNER_ROUND" > "work-$AGENT_RUNNER_ROUND.txt"\necho RESULT ok' },
  );
  t.teardown(p.cleanup);
  const r = await serve(p, ['--max-rounds', '4']);
  t.equal(r.code, 0, r.stderr);
  const evs = readEvents(p.stateDir);
  const vcs = evs.filter((e) => String(e['kind']).startsWith('vcs_')).map((e) => [e['round'], e['kind'], e['policy'] ?? null]);
  t.same(
    vcs,
    [
      [1, 'vcs_committed', null],
      [2, 'vcs_dirty_ignored', 'hook d: ignore'],
      [4, 'vcs_stashed', null],
    ],
    'what each answer did (round 3: the hook left it clean)',
  );

  t.match(p.json('in-d-1.json'), {
    event: 'dirty_tree',
    hook: 'd',
    round: 1,
    dirty_files: ['work-1.txt'],
    previous_round: { round: 1, class: 'ok', exit_code: 0, stash_sha: null, commit_sha: null },
  });
  t.same([...(p.json('in-d-3.json')['dirty_files'] as string[])].sort(), ['work-2.txt', 'work-3.txt'], "ignore left round 2's file");
  t.same(p.json('in-d-4.json')['dirty_files'], ['work-4.txt']);

  const log = p.git('log', '--format=%H %s').trim().split('\n');
  t.equal(log.length, 3, "initial, the runner's commit of round 1, the hook's of round 3");
  t.match(log[0], / committed by the hook$/);
  t.equal(log[1]?.split(' ')[0], of(evs, 'vcs_committed')[0]?.['sha'], 'commit: the runner committed round 1 and recorded its SHA');
  t.match(p.git('show', '--stat', '--format=%B', 'HEAD~1'), /Agent-Runner-Round: 1[^]*work-1\.txt/);
  const stashes = p.git('stash', 'list', '--format=%H %s').trim().split('\n');
  t.equal(stashes.length, 1, 'no answer: the default dirty_action (stash) for round 4 only');
  t.match(stashes[0], /agent-runner round 4/);
  t.equal(stashes[0]?.split(' ')[0], of(evs, 'vcs_stashed')[0]?.['sha']);
  t.equal(p.git('status', '--porcelain').trim(), '', 'the tree is clean at the end');
});

const FAILING = {
  fail: 'cat > /dev/null\necho \'{"prompt": "EVIL"}\'\necho "boom: the task server said no" >&2\nexit 1',
  hang: 'cat > /dev/null\nsleep 300 &\necho $! > "$HOME/hang-child.pid"\necho \'{"prompt": "EVIL"}\'\nsleep 300',
  garbage: 'cat > /dev/null\necho \'{"prompt": "EVIL"} and then some\'',
};

const gone = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return false;
  } catch {
    return true;
  }
};

t.test(
  'on_failure = "continue": a failing, a hanging (killed with its group) and a garbage-printing pre_round hook count as not run',
  async (t) => {
    const p = hookProject({
      fail: { on: 'pre_round', script: FAILING.fail, toml: 'on_failure = "continue"' },
      hang: { on: 'pre_round', script: FAILING.hang, toml: 'on_failure = "continue"\ntimeout_s = 1' },
      garbage: { on: 'pre_round', script: FAILING.garbage, toml: 'on_failure = "continue"' },
    });
    t.teardown(p.cleanup);
    const r = await serve(p, ['--max-rounds', '1']);
    t.equal(r.code, 0, r.stderr);
    t.equal(p.read('prompt-1.txt'), 'Do the next step.\n', 'no answer of a failed hook was used');
    const evs = readEvents(p.stateDir);
    t.match(of(evs, 'hook_failed'), [
      {
        hook: 'fail',
        event: 'pre_round',
        reason: 'exit',
        exit_code: 1,
        action: 'continue',
        round: 1,
        stderr_tail: /boom: the task server said no/,
      },
      { hook: 'hang', reason: 'timeout', action: 'continue', round: 1 },
      { hook: 'garbage', reason: 'bad_output', action: 'continue', message: /hook garbage: stdout is not one JSON document/ },
    ]);
    t.ok(Number(of(evs, 'hook_failed')[1]?.['duration_s']) >= 1, 'the hang lasted its timeout');
    t.equal(of(evs, 'prompt_overwritten').length, 0);
    t.match(readRounds(p.stateDir), [{ round: 1, status: 'finished', classification: 'ok' }], 'serve went on');
    const child = Number(p.read('hang-child.pid'));
    await until("the hanging hook's background child to be gone", () => gone(child), 5000);
    t.pass("the hanging hook's whole process group was killed");
  },
);

t.test('on_failure = "skip_round": no round while the hook fails (exit, timeout, garbage), the round runs once it succeeds', async (t) => {
  const p = hookProject({
    g: {
      on: 'pre_round',
      toml: 'timeout_s = 1',
      script: `cat > /dev/null
n=$(($(cat "$HOME/count" 2>/dev/null || echo 0) + 1)); echo $n > "$HOME/count"
case $n in
  1) exit 1 ;;
  2) sleep 300 ;;
  3) echo 'not json' ;;
esac
echo '{"context": {"ready": true}}'`,
    },
  });
  t.teardown(p.cleanup);
  const r = await serve(p, ['--max-rounds', '1']);
  t.equal(r.code, 0, r.stderr);
  const evs = readEvents(p.stateDir);
  t.same(
    of(evs, 'hook_failed').map((e) => [e['reason'], e['action'], e['round']]),
    [
      ['exit', 'skip_round', 1],
      ['timeout', 'skip_round', 1],
      ['bad_output', 'skip_round', 1],
    ],
    'three failed tries, each about round 1',
  );
  t.same(
    readRounds(p.stateDir).map((x) => [x['round'], x['classification']]),
    [[1, 'ok']],
    'one round, number 1: skipped tries consume no number and leave no row',
  );
  const firstStart = evs.findIndex((e) => e['kind'] === 'round_start');
  t.same(
    evs
      .slice(0, firstStart)
      .filter((e) => String(e['kind']).startsWith('hook_'))
      .map((e) => e['kind'])
      .filter((k) => k !== 'hook_started'),
    ['hook_failed', 'hook_failed', 'hook_failed', 'hook_finished'],
    'no round started before the hook succeeded',
  );
  const tries = of(evs, 'hook_started').map((e) => Date.parse(String(e['ts'])));
  t.ok(tries.length === 4 && (tries[3] as number) - (tries[2] as number) >= 900, 'tries at least 1 s apart (restart_delay_s = 0)');
  t.match(r.stderr, /no round now: hook g failed \(on_failure skip_round\)/);

  // While it skips, SIGTERM ends the wait at once.
  const q = hookProject({ g: { on: 'pre_round', script: 'exit 1' } }, { restartDelayS: 30 });
  t.teardown(q.cleanup);
  const s = startServe(q);
  await until('hook_failed', () => of(readEvents(q.stateDir), 'hook_failed').length > 0, 20_000);
  await new Promise((res) => setTimeout(res, 200));
  const sent = Date.now();
  s.child.kill('SIGTERM');
  const ex = await s.exited;
  t.equal(ex.code, 0, s.stderr());
  t.ok(ex.atMs - sent < 2000, `exited ${ex.atMs - sent} ms after SIGTERM`);
  t.same(readRounds(q.stateDir), [], 'no round ran');
  t.equal(of(readEvents(q.stateDir), 'hook_failed').length, 1, 'one try in the 30 s wait');
});

t.test(
  'serve_start with on_failure = "stop" (the default): exit 78 and one config_broken alarm naming the hook, for a failing, hanging and garbage-printing hook',
  async (t) => {
    const p = hookProject({
      s: {
        on: 'serve_start',
        toml: 'timeout_s = 1',
        script: `cat > /dev/null
case $(cat "$HOME/mode") in
  fail) echo "cannot reach the task server" >&2; exit 1 ;;
  hang) sleep 300 ;;
  garbage) echo '{"prompt": "a serve_start hook answers nothing"}' ;;
esac
exit 0`,
      },
    });
    t.teardown(p.cleanup);
    const mode = (m: string): void => writeFileSync(join(p.home, 'mode'), m);
    const reasons: string[] = [];
    for (const m of ['fail', 'hang', 'garbage']) {
      mode(m);
      const r = await serve(p, []);
      t.equal(r.code, 78, `${m}: exit 78 (${r.stderr})`);
      t.match(r.stderr, /STARTUP FAIL \(hook s\): hook s: /);
      const evs = readEvents(p.stateDir);
      reasons.push(String(of(evs, 'hook_failed').at(-1)?.['reason']));
      t.match(evs.at(-1), { kind: 'serve_stopped', reason: 'config_broken', exit_code: 78, rounds_run: 0 });
      t.match(of(evs, 'config_broken').at(-1), { check: 'hook s', detail: /^hook s: / });
    }
    t.same(reasons, ['exit', 'timeout', 'bad_output']);
    t.match(
      of(readEvents(p.stateDir), 'config_broken')[0],
      { detail: /exited 1[^]*cannot reach the task server/ },
      'the detail has the stderr tail',
    );
    t.same(readRounds(p.stateDir), [], 'no round ran');
    let alarms = alarmsOf(p.stateDir, 'config_broken');
    t.equal(alarms.alarms.length, 1, 'the operator is told once, however many starts fail');
    t.match(alarms.alarms[0], { severity: 'critical', title: /not started: hook s broken/, body: /cannot reach the task server/ });
    t.ok(!existsSync(join(p.stateDir, 'hooks-context.json')));

    mode('ok');
    const r = await serve(p, ['--max-rounds', '1']);
    t.equal(r.code, 0, r.stderr);
    t.match(readRounds(p.stateDir), [{ round: 1, classification: 'ok' }], 'once it passes, rounds run');
    alarms = alarmsOf(p.stateDir, 'config_broken');
    t.equal(alarms.recoveries.length, 1, 'and the alarm is resolved');
  },
);

t.test('on_failure = "stop" after a round (post_round, dirty_tree): exit 78 once the round is recorded', async (t) => {
  const p = hookProject({ t: { on: 'post_round', script: 'cat > /dev/null\nexit 1', toml: 'on_failure = "stop"' } });
  t.teardown(p.cleanup);
  let r = await serve(p, []);
  t.equal(r.code, 78, r.stderr);
  t.match(readRounds(p.stateDir), [{ round: 1, status: 'finished', classification: 'ok' }], 'one round, fully recorded');
  let kinds = readEvents(p.stateDir).map((e) => e['kind']);
  t.ok(kinds.indexOf('round_end') < kinds.indexOf('config_broken'), 'round_end before the stop');
  t.match(of(readEvents(p.stateDir), 'config_broken')[0], { check: 'hook t', detail: /hook t: exited 1/ });
  t.match(readEvents(p.stateDir).at(-1), { kind: 'serve_stopped', reason: 'config_broken', exit_code: 78, rounds_run: 1 });
  t.equal(alarmsOf(p.stateDir, 'config_broken').alarms.length, 1);

  const q = hookProject(
    { d: { on: 'dirty_tree', script: 'cat > /dev/null\necho \'{"action": "ignore"}\'\nexit 1', toml: 'on_failure = "stop"' } },
    { agent: 'cat > /dev/null\necho x > work.txt\necho RESULT ok' },
  );
  t.teardown(q.cleanup);
  r = await serve(q, []);
  t.equal(r.code, 78, r.stderr);
  t.match(readRounds(q.stateDir), [{ round: 1, status: 'finished', classification: 'ok' }]);
  kinds = readEvents(q.stateDir).map((e) => e['kind']);
  t.same(
    kinds.filter((k) => ['vcs_stashed', 'round_end', 'config_broken', 'serve_stopped'].includes(String(k))),
    ['vcs_stashed', 'round_end', 'config_broken', 'serve_stopped'],
    'vcs.dirty_action applied, the round recorded, then the stop',
  );
  t.equal(q.git('status', '--porcelain').trim(), '', 'the failed hook\'s "ignore" was not used');
});

t.test('peek lists the hooks with their last outcome', async (t) => {
  const p = hookProject({
    good: { on: 'pre_round', script: 'cat > /dev/null' },
    bad: { on: 'post_round', script: 'cat > /dev/null\necho nope >&2\nexit 3' },
    off: { on: 'pre_round', script: 'exit 1', toml: 'enabled = false' },
  });
  t.teardown(p.cleanup);
  let peek = JSON.parse((await runCli(['peek', '--json'], { cwd: p.dir, env: p.env })).stdout) as { hooks: unknown[] };
  t.same(
    peek.hooks,
    [
      { name: 'good', on: 'pre_round', enabled: true, last: null },
      { name: 'bad', on: 'post_round', enabled: true, last: null },
      { name: 'off', on: 'pre_round', enabled: false, last: null },
    ],
    'before any run',
  );
  const r = await serve(p, ['--max-rounds', '2']);
  t.equal(r.code, 0, r.stderr);
  peek = JSON.parse((await runCli(['peek', '--json'], { cwd: p.dir, env: p.env })).stdout) as { hooks: unknown[] };
  const evs = readEvents(p.stateDir);
  t.same(
    peek.hooks,
    [
      {
        name: 'good',
        on: 'pre_round',
        enabled: true,
        last: { at: of(evs, 'hook_finished').at(-1)?.['ts'], outcome: 'ok', duration_s: of(evs, 'hook_finished').at(-1)?.['duration_s'] },
      },
      {
        name: 'bad',
        on: 'post_round',
        enabled: true,
        last: {
          at: of(evs, 'hook_failed').at(-1)?.['ts'],
          outcome: 'failed',
          reason: 'exit',
          duration_s: of(evs, 'hook_failed').at(-1)?.['duration_s'],
          message: 'hook bad: exited 3: nope',
        },
      },
      { name: 'off', on: 'pre_round', enabled: false, last: null },
    ],
    "the newest run of each (round 2's)",
  );
  t.equal(of(evs, 'hook_failed').at(-1)?.['round'], 2);
  const human = (await runCli(['peek'], { cwd: p.dir, env: p.env })).stdout;
  t.match(
    human,
    /\nhooks:\n {2}good +pre_round +ok in [\d.]+s at \S+\n {2}bad +post_round +FAILED \(exit\) in [\d.]+s at \S+: hook bad: exited 3: nope\n {2}off +pre_round +\(disabled\) never ran\n/,
  );
});
