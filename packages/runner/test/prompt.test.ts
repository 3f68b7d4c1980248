import t from 'tap';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assemblePrompt, checkPromptFile, checkPromptFiles, renderContextBlock, stripYamlFrontMatter } from '../src/prompt.js';

const dir = mkdtempSync(join(tmpdir(), 'ar-prompt-'));
function file(name: string, content: string | Buffer): string {
  const p = join(dir, name);
  writeFileSync(p, content);
  return p;
}

t.test('files are joined with the separator; front matter leaves the first file only', async (t) => {
  file('common.md', '---\ntitle: common\ntags: [a, b]\n---\n# Goal\nShip it.\n');
  file('phase.md', '---\nkept: yes\n---\nDiverge.\n');
  const p = assemblePrompt({ files: ['common.md', 'phase.md'], separator: '\n\n---8<---\n\n', stripFrontMatter: true, baseDir: dir });
  t.equal(p.text, '# Goal\nShip it.\n\n\n---8<---\n\n---\nkept: yes\n---\nDiverge.\n');
  t.equal(p.bytes, Buffer.byteLength(p.text));
  t.same(
    p.sources.map((s) => [s.path, s.frontMatterStripped]),
    [
      [join(dir, 'common.md'), true],
      [join(dir, 'phase.md'), false],
    ],
  );
  const raw = assemblePrompt({ files: [join(dir, 'common.md')], separator: '', stripFrontMatter: false });
  t.match(raw.text, /^---\ntitle: common/);
});

t.test('front matter rules', async (t) => {
  t.same(stripYamlFrontMatter('---\r\na: 1\r\n---\r\nbody'), { text: 'body', stripped: true }, 'CRLF');
  t.same(stripYamlFrontMatter('\uFEFF---\na: 1\n---\nbody'), { text: 'body', stripped: true }, 'BOM');
  t.same(stripYamlFrontMatter('---\na: 1\n---'), { text: '', stripped: true }, 'closing at EOF');
  t.same(stripYamlFrontMatter('---\nno closing line\n'), { text: '---\nno closing line\n', stripped: false });
  t.same(stripYamlFrontMatter('text\n---\na\n---\n'), { text: 'text\n---\na\n---\n', stripped: false }, 'only at the very top');
  t.same(stripYamlFrontMatter('----\na\n---\n'), { text: '----\na\n---\n', stripped: false }, 'not a fence');
});

t.test('missing and unreadable files are config errors naming the file', async (t) => {
  const missing = join(dir, 'nope.md');
  t.throws(() => assemblePrompt({ files: [missing], separator: '', stripFrontMatter: false }), {
    code: 'ERR_AR_CONFIG_SEMANTIC',
    message: `prompt file ${missing} does not exist`,
    location: { file: missing },
  });
  if (process.getuid?.() !== 0) {
    const locked = file('locked.md', 'secret');
    chmodSync(locked, 0o000);
    t.throws(() => assemblePrompt({ files: [locked], separator: '', stripFrontMatter: false }), { message: /is not readable/ });
  }
  t.throws(() => assemblePrompt({ files: [], separator: '', stripFrontMatter: false }), { code: 'ERR_AR_CONFIG_SEMANTIC' });
  const dirAsFile = join(dir, 'a-dir');
  mkdirSync(dirAsFile);
  t.throws(() => assemblePrompt({ files: [dirAsFile], separator: '', stripFrontMatter: false }), {
    code: 'ERR_AR_CONFIG_SEMANTIC',
    message: new RegExp(dirAsFile),
  });
});

t.test('an empty result is a config error', async (t) => {
  file('blank.md', '  \n\n');
  file('fm-only.md', '---\na: 1\n---\n\n');
  t.throws(() => assemblePrompt({ files: ['blank.md', 'blank.md'], separator: '\n', stripFrontMatter: false, baseDir: dir }), {
    code: 'ERR_AR_CONFIG_SEMANTIC',
    message: /prompt is empty/,
  });
  t.throws(() => assemblePrompt({ files: ['fm-only.md'], separator: '', stripFrontMatter: true, baseDir: dir }), {
    message: /prompt is empty/,
  });
  t.throws(
    () =>
      assemblePrompt({ files: ['blank.md'], separator: '', stripFrontMatter: false, baseDir: dir, context: { mode: 'prepend', round: 1 } }),
    { message: /prompt is empty/ },
    'the context block does not make an empty prompt valid',
  );
});

t.test('context block: prepended, or written to a file (markdown or JSON)', async (t) => {
  file('task.md', 'Do the task.\n');
  const ctx = {
    round: 12,
    phase: 'converge',
    lastOutcome: {
      round: 11,
      class: 'rate_limit',
      exitCode: 1,
      durationMs: 312_000,
      summary: 'rate_limit: 429\n(result, line 7)',
      vcs: 'stash 0123abc',
    },
  };
  const pre = assemblePrompt({
    files: ['task.md'],
    separator: '',
    stripFrontMatter: false,
    baseDir: dir,
    context: { mode: 'prepend', ...ctx },
  });
  t.equal(
    pre.text,
    '## agent-runner context\n\n- round: 12\n- phase: converge\n- last round: #11 ended rate_limit (exit 1, after 5m12s): rate_limit: 429 (result, line 7)\n- work tree after it: stash 0123abc\n\nDo the task.\n',
  );
  t.equal(pre.contextFile, undefined);

  const md = assemblePrompt({
    files: ['task.md'],
    separator: '',
    stripFrontMatter: false,
    baseDir: dir,
    context: { mode: 'file', file: 'ctx.md', ...ctx },
  });
  t.equal(md.text, 'Do the task.\n', 'prompt unchanged in file mode');
  t.equal(md.contextFile, join(dir, 'ctx.md'));
  t.equal(readFileSync(join(dir, 'ctx.md'), 'utf8'), md.context);
  t.equal(statSync(join(dir, 'ctx.md')).mode & 0o777, 0o600);

  assemblePrompt({
    files: ['task.md'],
    separator: '',
    stripFrontMatter: false,
    baseDir: dir,
    context: { mode: 'file', file: 'ctx.json', round: 1 },
  });
  t.same(JSON.parse(readFileSync(join(dir, 'ctx.json'), 'utf8')), { round: 1, last_round: null });

  t.equal(
    renderContextBlock({ round: 2, lastOutcome: { round: 1, class: 'crash', signal: 'SIGKILL' } }),
    '## agent-runner context\n\n- round: 2\n- last round: #1 ended crash (killed by SIGKILL)\n',
  );
  const off = assemblePrompt({
    files: ['task.md'],
    separator: '',
    stripFrontMatter: false,
    baseDir: dir,
    context: { mode: 'off', round: 3 },
  });
  t.equal(off.text, 'Do the task.\n');
  t.throws(
    () => assemblePrompt({ files: ['task.md'], separator: '', stripFrontMatter: false, baseDir: dir, context: { mode: 'file', round: 3 } }),
    {
      code: 'ERR_AR_CONFIG_SEMANTIC',
    },
  );
});

t.test('checkPromptFile: empty, truncated mid-character, invalid, fine', async (t) => {
  const good = file('good.md', 'héllo ✓ 𝄞\n');
  t.equal(checkPromptFile(good), undefined);
  t.match(checkPromptFile(file('empty.md', '')), { problem: 'empty' });
  t.match(checkPromptFile(file('ws.md', ' \n\t\n')), { problem: 'empty' });
  const full = Buffer.from('prompt ends in é');
  t.match(checkPromptFile(file('cut2.md', full.subarray(0, full.length - 1))), { problem: 'truncated_utf8', detail: /looks truncated/ });
  const clef = Buffer.from('music 𝄞');
  for (const cut of [1, 2, 3]) {
    t.match(
      checkPromptFile(file(`cut4-${cut}.md`, clef.subarray(0, clef.length - cut))),
      { problem: 'truncated_utf8' },
      `4-byte char cut by ${cut}`,
    );
  }
  t.match(checkPromptFile(file('bad.md', Buffer.from([0x61, 0xff, 0x62, 0x0a]))), { problem: 'invalid_utf8' });
  t.match(checkPromptFile(join(dir, 'absent.md')), { problem: 'missing' });
  t.same(
    checkPromptFiles(['good.md', 'empty.md', 'absent.md'], dir).map((p) => p.problem),
    ['empty', 'missing'],
  );
});
