/**
 * `agent-runner hooks` and `agent-runner hooks test NAME` through the built CLI: the list
 * (human and --json), a hook run against the last round of a real serve (its input, answer,
 * exit 0), a failing hook (stderr tail, exit 1), an unknown name (did-you-mean, exit 64), the
 * pre_round prompt, and that a test writes no events.
 */
import t from 'tap';
import { appendFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli } from '@agent-runner/testkit/project';
import { agentProject, readEvents } from './serve-helpers.js';

const READ = 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const i=JSON.parse(s);';
const HOOKS = `
[hooks.echo]
on = "detector"
command = ["./echo.sh"]
timeout_s = 10

[hooks.fail]
on = "post_round"
command = ["./fail.sh"]

[hooks.prompt]
on = "pre_round"
command = ["./prompt.sh"]
enabled = false

[hooks.gone]
on = "post_round"
command = ["./no-such-hook.sh"]
`;

t.test('hooks and hooks test through the built CLI', async (t) => {
  const p = agentProject('cat > /dev/null\necho "RESULT done"');
  t.teardown(p.cleanup);
  const cli = (args: string[]) => runCli(args, { cwd: p.dir, env: p.env, timeoutMs: 30_000 });
  t.equal((await cli(['serve', '--max-rounds', '1'])).code, 0, 'one real round first');
  p.write(
    'echo.sh',
    `#!/bin/sh\necho "checking" >&2\nnode -e '${READ}console.log(JSON.stringify({alerts:[{title:"round "+i.round+" after "+i.previous_round.class+", task "+i.context.next_task,severity:"error"}]}))})'\n`,
    0o755,
  );
  p.write(
    'fail.sh',
    '#!/bin/sh\ncat > /dev/null\necho "fetching the tracker..." >&2\necho "cannot reach the tracker" >&2\nexit 3\n',
    0o755,
  );
  p.write('prompt.sh', `#!/bin/sh\nnode -e '${READ}console.log(JSON.stringify({prompt:i.prompt+"Also: the TODO."}))})'\n`, 0o755);
  appendFileSync(join(p.dir, 'agent-runner.toml'), HOOKS);
  writeFileSync(join(p.stateDir, 'hooks-context.json'), '{"next_task":"write the parser"}');
  const eventsBefore = readEvents(p.stateDir).length;

  const list = await cli(['hooks']);
  t.equal(list.code, 0);
  t.match(list.stdout, /^NAME +ON +ENABLED +TIMEOUT +ON_FAILURE +COMMAND\n/);
  t.match(list.stdout, /\necho +detector +yes +10 s +continue +\S*\/echo\.sh\n/);
  t.match(list.stdout, /\nprompt +pre_round +no +30 s +skip_round /);
  t.match(list.stdout, /\ngone .*\n +! \S*no-such-hook\.sh does not exist\n/, 'a command that cannot run is pointed out');
  const listLines = list.stdout.split('\n');
  t.equal(listLines.find((l) => l.includes('! '))?.indexOf('!'), listLines[0]?.indexOf('COMMAND'), 'under its command');
  const listJson = await cli(['hooks', '--json']);
  t.equal(listJson.code, 0);
  const doc = JSON.parse(listJson.stdout) as { config_file: string; hooks: Array<Record<string, unknown>> };
  t.equal(doc.config_file, join(p.dir, 'agent-runner.toml'));
  t.same(
    doc.hooks.map((h) => h['name']),
    ['echo', 'fail', 'prompt', 'gone'],
    'config order',
  );
  t.match(doc.hooks[0], {
    name: 'echo',
    on: 'detector',
    enabled: true,
    command: [join(p.dir, 'echo.sh')],
    timeout_s: 10,
    on_failure: 'continue',
    problem: null,
  });
  t.match(doc.hooks[3], { problem: /does not exist/ });

  const ok = await cli(['hooks', 'test', 'echo']);
  t.equal(ok.code, 0, 'a hook that succeeds: exit 0');
  t.match(ok.stdout, /hook echo \(detector\): .*echo\.sh/);
  t.match(ok.stdout, /input: round 1, previous round 1 \(ok\), 1 context field/);
  t.match(ok.stdout, /ok: exit 0 after \d+\.\d s; answered alerts/);
  t.match(ok.stdout, /"title": "round 1 after ok, task write the parser"/, 'the answer, built from the last round and the context');
  t.match(ok.stdout, /stderr \(last lines\):\n {2}\| checking/);

  const okJson = await cli(['hooks', 'test', 'echo', '--json']);
  t.equal(okJson.code, 0);
  const r = JSON.parse(okJson.stdout) as { result: { duration_s: unknown } } & Record<string, unknown>;
  t.match(r, {
    ok: true,
    hook: { name: 'echo', on: 'detector' },
    input: {
      version: 1,
      event: 'detector',
      hook: 'echo',
      project: 'proj',
      work_dir: p.dir,
      round: 1,
      previous_round: { round: 1, class: 'ok', exit_code: 0 },
      context: { next_task: 'write the parser' },
    },
    result: {
      ok: true,
      answer: { alerts: [{ severity: 'error', title: 'round 1 after ok, task write the parser' }] },
      stderrTail: /checking/,
    },
  });
  t.type(r['result']['duration_s'], 'number');

  const bad = await cli(['hooks', 'test', 'fail']);
  t.equal(bad.code, 1, 'a hook that fails: exit 1');
  t.match(bad.stdout, /failed \(exit\) after \d+\.\d s: hook fail: exited 3: cannot reach the tracker/);
  t.match(bad.stdout, /exit code: 3, signal: none/);
  t.match(bad.stdout, /in serve this failure does: continue/);
  t.match(bad.stdout, /\| fetching the tracker\.\.\.\n {2}\| cannot reach the tracker/, 'the stderr tail');
  const badJson = await cli(['hooks', 'test', 'fail', '--json']);
  t.equal(badJson.code, 1);
  t.match(JSON.parse(badJson.stdout), {
    ok: false,
    input: { event: 'post_round', round: 1 },
    result: { ok: false, reason: 'exit', exitCode: 3, stderrTail: /cannot reach the tracker/ },
  });

  const missing = await cli(['hooks', 'test', 'gone']);
  t.equal(missing.code, 1, 'a command that does not exist is a failed test, not a broken config');
  t.match(missing.stdout, /failed \(spawn\).*cannot run .*no-such-hook\.sh: ENOENT/);

  const pre = await cli(['hooks', 'test', 'prompt', '--json']);
  t.equal(pre.code, 0, 'a disabled hook is tested anyway');
  const preDoc = JSON.parse(pre.stdout) as { input: { prompt: string }; result: { answer: { prompt: string } } } & Record<string, unknown>;
  t.match(preDoc, { input: { event: 'pre_round', round: 2 }, notes: [/disabled/, /prompt: round 2's prompt files/] });
  t.match(preDoc['input']['prompt'], /Do the next step\.\n$/, 'the assembled prompt');
  t.notMatch(preDoc['input']['prompt'], /note: stripped/, 'front matter stripped as serve does');
  t.match(preDoc['result']['answer']['prompt'], /Do the next step\.\nAlso: the TODO\.$/);

  const typo = await cli(['hooks', 'test', 'ecoh']);
  t.equal(typo.code, 64, 'unknown name: usage error');
  t.match(typo.stderr, /no \[hooks\.ecoh\] in .*agent-runner\.toml/);
  t.match(typo.stderr, /expected: one of echo, fail, prompt, gone/);
  t.match(typo.stderr, /did you mean `echo`\?/);
  const typoJson = await cli(['hooks', 'test', 'nothing-like-it', '--json']);
  t.equal(typoJson.code, 64);
  t.match(JSON.parse(typoJson.stdout), {
    ok: false,
    error: { code: 'ERR_AR_USAGE', found: 'nothing-like-it', hint: /agent-runner hooks` lists/ },
  });
  t.equal((await cli(['hooks', 'test'])).code, 64, 'no name: usage error');

  t.equal(readEvents(p.stateDir).length, eventsBefore, 'a test writes no events');
});

t.test('no hooks configured', async (t) => {
  const p = agentProject('echo RESULT');
  t.teardown(p.cleanup);
  const r = await runCli(['hooks'], { cwd: p.dir, env: p.env });
  t.equal(r.code, 0);
  t.match(r.stdout, /^no hooks in .*agent-runner\.toml/);
  t.same(JSON.parse((await runCli(['hooks', '--json'], { cwd: p.dir, env: p.env })).stdout).hooks, []);
  const test = await runCli(['hooks', 'test', 'x'], { cwd: p.dir, env: p.env });
  t.equal(test.code, 64);
  t.match(test.stderr, /expected: a \[hooks\.NAME\] table in the config/);
});
