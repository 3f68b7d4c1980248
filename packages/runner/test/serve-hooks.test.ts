// The runner's side of hooks without a serve: the context fields in the agent's context block
// (Markdown and JSON), and the persisted hook context (missing, corrupt, null removes a field).
import t from 'tap';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseConfig, configPaths } from '@agent-runner/core/config';
import { EventWriter } from '@agent-runner/core/events';
import { applyContext, renderContextBlock } from '../src/prompt.js';
import { readHooksContext } from '@agent-runner/core/hook-input';
import { ServeHooks } from '../src/serve-hooks.js';

t.test("context block: the hooks' fields, one per line, a multi-line value indented; JSON under hook_context", async (t) => {
  const block = renderContextBlock({ round: 3, fields: { tests: '2 failing', report: 'FAIL a\nFAIL b\n', n: 4, obj: { k: [1, 2] } } });
  t.equal(
    block,
    '## agent-runner context\n\n- round: 3\n- last round: none\n- from hooks:\n  - tests: 2 failing\n  - report:\n    FAIL a\n    FAIL b\n  - n: 4\n  - obj: {"k":[1,2]}\n',
  );
  t.notMatch(renderContextBlock({ round: 3, fields: {} }), /from hooks/, 'no fields, no line');
  const dir = t.testdir();
  const r = applyContext(
    { text: 'Task.\n', sources: [] },
    { mode: 'file', file: join(dir, 'ctx.json'), round: 3, fields: { tests: '2 failing' } },
  );
  t.equal(r.text, 'Task.\n', 'file mode leaves the prompt alone');
  t.same(JSON.parse(readFileSync(join(dir, 'ctx.json'), 'utf8')), { round: 3, last_round: null, hook_context: { tests: '2 failing' } });
  const pre = applyContext({ text: 'Task.\n', sources: [] }, { mode: 'prepend', round: 3, fields: { a: 1 } });
  t.match(pre.text, /- from hooks:\n {2}- a: 1\n\nTask\.\n$/);
  t.equal(pre.bytes, Buffer.byteLength(pre.text));
});

t.test('hook context file: missing is empty, corrupt or not an object is empty with a warning; merge persists, null removes', async (t) => {
  const dir = t.testdir();
  const warnings: string[] = [];
  const warn = (line: string): void => void warnings.push(line);
  const file = join(dir, 'hooks-context.json');
  t.same(readHooksContext(file, warn), {});
  t.same(warnings, [], 'a missing file is no warning');
  writeFileSync(file, '{"a": ');
  t.same(readHooksContext(file, warn), {});
  writeFileSync(file, '[1, 2]');
  t.same(readHooksContext(file, warn), {});
  t.match(warnings, [/is not JSON/, /is not a JSON object/]);

  const source = `project = "p"\n[agent]\ncommand = ["true"]\n[prompt]\nfile = "P.md"\n[runtime]\nstate_dir = "state"\n[hooks.h]\non = "post_round"\ncommand = ["true"]\n`;
  writeFileSync(join(dir, 'P.md'), 'x\n');
  const cfg = parseConfig(source, join(dir, 'agent-runner.toml'), {
    env: { HOME: dir, PATH: process.env['PATH'] },
    mode: 'user',
    skipFileChecks: true,
  });
  const paths = configPaths(cfg);
  mkdirSync(paths.stateDir, { recursive: true });
  writeFileSync(paths.hookContextFile, '{"kept": "yes", "gone": 1}');
  const events = new EventWriter({ dir: paths.eventsDir, project: cfg.project, unit: 'runner' });
  t.teardown(() => events.close());
  const hooks = new ServeHooks({
    cfg,
    paths,
    events,
    env: {},
    presetEnv: {},
    kill: () => undefined,
    log: (_p, line) => void warnings.push(line),
  });
  t.same(hooks.context, { kept: 'yes', gone: 1 }, 'loaded at start');
  hooks.merge({ gone: null, added: { x: 1 }, kept: 'overwritten' });
  t.same(hooks.context, { kept: 'overwritten', added: { x: 1 } });
  t.same(JSON.parse(readFileSync(paths.hookContextFile, 'utf8')), { kept: 'overwritten', added: { x: 1 } }, 'written through');
});

t.test('peekHooks: the newest run of each configured hook (by name and event), within the newest week of event files', async (t) => {
  const dir = t.testdir();
  writeFileSync(join(dir, 'P.md'), 'x\n');
  const hookToml = (name: string, on: string): string => `[hooks.${name}]\non = "${on}"\ncommand = ["true"]\n`;
  const source = `project = "p"\n[agent]\ncommand = ["true"]\n[prompt]\nfile = "P.md"\n[runtime]\nstate_dir = "state"\n${hookToml('recent', 'pre_round')}${hookToml('old', 'post_round')}${hookToml('moved', 'post_round')}`;
  const cfg = parseConfig(source, join(dir, 'agent-runner.toml'), {
    env: { HOME: dir, PATH: process.env['PATH'] },
    mode: 'user',
    skipFileChecks: true,
  });
  const paths = configPaths(cfg);
  const day = 86_400_000;
  let now = Date.UTC(2026, 0, 1, 12);
  const w = new EventWriter({ dir: paths.eventsDir, project: 'p', unit: 'runner', now: () => now });
  t.teardown(() => w.close());
  const fin = (hook: string, event: string): void =>
    void w.emit('hook_finished', { hook, event, duration_s: 0.1, exit_code: 0, answered: 'nothing' });
  fin('old', 'post_round'); // day 0: 8 files before the newest
  now += day;
  for (let d = 2; d <= 9; d++) {
    now += day;
    fin('recent', 'pre_round');
    fin('moved', 'pre_round'); // the same name under another event is another hook
  }
  w.emit('hook_failed', {
    hook: 'recent',
    event: 'pre_round',
    reason: 'timeout',
    message: 'hook recent: still running after 30 s',
    exit_code: null,
    signal: 'SIGTERM',
    duration_s: 30,
    stderr_tail: '',
    action: 'skip_round',
  });
  const { peekHooks } = await import('../src/peek.js');
  t.same(
    peekHooks(cfg, paths.eventsDir),
    [
      {
        name: 'recent',
        on: 'pre_round',
        enabled: true,
        last: {
          at: new Date(now).toISOString(),
          outcome: 'failed',
          reason: 'timeout',
          duration_s: 30,
          message: 'hook recent: still running after 30 s',
        },
      },
      { name: 'old', on: 'post_round', enabled: true, last: null },
      { name: 'moved', on: 'post_round', enabled: true, last: null },
    ],
    'a run older than the week reads as none',
  );
});
