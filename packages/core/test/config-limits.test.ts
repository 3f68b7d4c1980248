// Config reading that never gives an internal error (issue 18): every TOML key form is located,
// only small regular files are read, every duration and count has an upper bound, [agent.env]
// fits execve, and every reason is one short line naming where a derived value came from.
import t, { type Test } from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, parseConfig } from '../src/config/index.js';
import { formatKeyPath, KeyLocator } from '../src/config/locate.js';
import { readConfigSource } from '../src/config/read.js';
import { CONFIG_SCHEMA, MAX_DURATION_S } from '../src/config/schema.js';
import { clampLine, showText } from '../src/config/show.js';
import { splitKey, unescapeBasic } from '../src/config/toml-key.js';
import { AgentRunnerError } from '../src/errors.js';

const env = { HOME: '/home/op' };
const MIN = '[agent]\ncommand = ["claude"]\n[prompt]\nfile = "P.md"\n';
const parse = (src: string, file = '/srv/p/agent-runner.toml') => parseConfig(src, file, { env, mode: 'user', skipFileChecks: true });

function fails(f: () => unknown): AgentRunnerError {
  try {
    f();
  } catch (e) {
    if (e instanceof AgentRunnerError) return e;
    throw e;
  }
  throw new Error('expected an AgentRunnerError');
}

/** Every message, expected and found of `e` (and its `more`) is one line of sane length. */
function oneLineReasons(t: Test, e: AgentRunnerError, what: string): void {
  for (const x of [e, ...e.more]) {
    for (const [field, v] of [
      ['message', x.message],
      ['expected', x.expected],
      ['found', x.found],
    ] as const) {
      if (v === undefined) continue;
      if (/[\n\r]/.test(v) || v.length > 900) t.fail(`${what}: ${field} is not one short line: ${v.slice(0, 200)}`);
    }
  }
  t.pass(`${what}: one-line reasons`);
}

t.test('TOML basic-string escapes and key splitting', async (t) => {
  t.equal(unescapeBasic('k\\U0001F600'), 'k\u{1F600}');
  t.equal(unescapeBasic('a\\tb\\\\c\\"d\\u00e9\\n\\e\\x41'), 'a\tb\\c"d\u00e9\n\u001bA');
  t.equal(unescapeBasic('\\uD800\\U00110000\\q'), '\\uD800\\U00110000\\q', 'escapes TOML rejects are kept, never thrown');
  t.same(splitKey(`a . "b\\tc".'d\\e'\t.\tf`), ['a', 'b\tc', 'd\\e', 'f']);
});

t.test('the locator finds every key form', async (t) => {
  const src = [
    '[agent]',
    '"k\\U0001F600" = 1',
    '\t"a\\tb" \t.\t c = 2',
    "'lit\\x' = 3",
    'bare-key_1 = 4',
    '"esc\\\\\\"q" = 5',
    '[ runtime . "back]off" ]',
    'x = { a = 1, b = { c = "}=,{" }, d = [ { e = 1 } ] }',
    `"${'y'.repeat(100_000)}" = 1`,
  ].join('\n');
  const l = new KeyLocator(src);
  t.same(l.find(['agent', 'k\u{1F600}']), { line: 2, column: 1 });
  t.same(l.find(['agent', 'a\tb', 'c']), { line: 3, column: 2 }, 'tabs around the dot, tab indent');
  t.same(l.find(['agent', 'lit\\x']), { line: 4, column: 1 }, 'literal key: no escapes');
  t.same(l.find(['agent', 'bare-key_1']), { line: 5, column: 1 });
  t.same(l.find(['agent', 'esc\\"q']), { line: 6, column: 1 });
  t.same(l.find(['runtime', 'back]off']), { line: 7, column: 1 }, 'quoted header part with ] and spaces');
  t.same(l.find(['runtime', 'back]off', 'x', 'b', 'c']), { line: 8, column: 20 }, 'nested inline table');
  t.same(l.find(['runtime', 'back]off', 'x', 'd', 0, 'e']), { line: 8, column: 34 }, 'inside an array: the array key');
  t.same(l.find(['runtime', 'back]off', 'y'.repeat(100_000)]), { line: 9, column: 1 });
  const start = Date.now();
  new KeyLocator(`a = { b = "${'x'.repeat(1 << 20)}" }\n`);
  t.ok(Date.now() - start < 2000, 'a megabyte inside an inline table is scanned in linear time');
});

t.test('"k\\U0001F600" = 1 is an unknown key at its line, not an internal error', async (t) => {
  const e = fails(() => parse('[agent]\ncommand = ["claude"]\n"k\\U0001F600" = 1\n[prompt]\nfile = "P.md"\n'));
  t.match(e, { code: 'ERR_AR_CONFIG_UNKNOWN_KEY', exitCode: 78, key: 'agent."k\u{1F600}"' });
  t.same([e.location?.line, e.location?.column], [3, 1]);
  const tab = fails(() => parse(`${MIN}[runtime]\n"restart\\tdelay" = 1\n`));
  t.match(tab, { code: 'ERR_AR_CONFIG_UNKNOWN_KEY', key: 'runtime."restart\\tdelay"' });
  t.equal(tab.location?.line, 6);
});

t.test('only small regular files are read, and a FIFO is never opened', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ar-cfg-read-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const fifo = join(dir, 'fifo');
  execFileSync('mkfifo', [fifo]);
  const ok = join(dir, 'ok.toml');
  writeFileSync(ok, MIN);
  symlinkSync(ok, join(dir, 'link.toml'));
  symlinkSync(join(dir, 'loop-b'), join(dir, 'loop-a'));
  symlinkSync(join(dir, 'loop-a'), join(dir, 'loop-b'));
  writeFileSync(join(dir, 'big.toml'), `#${'x'.repeat(2 * 1024 * 1024)}\n`);
  mkdirSync(join(dir, 'd'));
  const cases: Array<[string, string, RegExp]> = [
    [fifo, 'ERR_AR_CONFIG_NOT_FOUND', /fifo is a named pipe \(FIFO\), not a regular file/],
    [join(dir, 'd'), 'ERR_AR_CONFIG_NOT_FOUND', /is a directory, not a regular file/],
    ['/dev/null', 'ERR_AR_CONFIG_NOT_FOUND', /\/dev\/null is a character device/],
    ['/dev/zero', 'ERR_AR_CONFIG_NOT_FOUND', /\/dev\/zero is a character device/],
    [join(dir, 'loop-a'), 'ERR_AR_CONFIG_NOT_FOUND', /is a symlink loop/],
    [join(dir, 'missing.toml'), 'ERR_AR_CONFIG_NOT_FOUND', /does not exist/],
    [join(dir, 'big.toml'), 'ERR_AR_CONFIG_INVALID', /is 2\.0 MiB, more than the 1\.0 MiB/],
  ];
  for (const [file, code, message] of cases) {
    const start = Date.now();
    const e = fails(() => readConfigSource(file));
    t.match(e, { code, exitCode: 78, message, location: { file } }, file);
    t.ok(Date.now() - start < 1000, `${file}: refused at once`);
  }
  t.equal(readConfigSource(join(dir, 'link.toml')), MIN, 'a symlink to a regular file is read');
  const latin1 = join(dir, 'latin1.toml');
  writeFileSync(latin1, Buffer.concat([Buffer.from(`${MIN}[runtime]\n`), Buffer.from('# caf\xe9\n', 'latin1')]));
  t.match(
    fails(() => readConfigSource(latin1)),
    { code: 'ERR_AR_CONFIG_SYNTAX', exitCode: 78, message: /is not valid UTF-8/, location: { file: latin1, line: 6 } },
    'not UTF-8: refused at its line, not read as U+FFFD',
  );
  t.equal(loadConfig(join(dir, 'link.toml'), { env, mode: 'user', skipFileChecks: true }).agent.command[0], 'claude');
});

t.test('every duration and count has an upper bound', async (t) => {
  const e = fails(() => parse(`${MIN}[runtime]\nrestart_delay_s = 0x7FFFFFFF\n`));
  t.match(e, {
    code: 'ERR_AR_CONFIG_INVALID',
    key: 'runtime.restart_delay_s',
    message: /out of range/,
    expected: `a number <= ${MAX_DURATION_S}`,
  });
  t.equal(parse(`${MIN}[runtime]\nrestart_delay_s = ${MAX_DURATION_S}\n`).runtime.restart_delay_s, MAX_DURATION_S, 'a week is allowed');
  for (const v of ['nan', 'inf', '-inf']) {
    t.match(
      fails(() => parse(`${MIN}[runtime]\nround_timeout_s = ${v}\n`)),
      { code: 'ERR_AR_CONFIG_INVALID', key: 'runtime.round_timeout_s' },
      `${v} is refused`,
    );
  }
  const unbounded: string[] = [];
  const walk = (node: Record<string, unknown>, at: string): void => {
    const isNumber = node['type'] === 'number' || node['type'] === 'integer';
    if (isNumber && typeof node['maximum'] !== 'number') unbounded.push(at);
    if (node['x-unit'] === 's' && (node['maximum'] as number) > MAX_DURATION_S) unbounded.push(`${at} (over a week)`);
    for (const k of ['properties', 'patternProperties'] as const) {
      for (const [name, child] of Object.entries((node[k] as Record<string, Record<string, unknown>> | undefined) ?? {}))
        walk(child, `${at}.${name}`);
    }
    const add = node['additionalProperties'];
    if (add && typeof add === 'object') walk(add as Record<string, unknown>, `${at}.*`);
    for (const branch of (node['oneOf'] as Array<Record<string, unknown>> | undefined) ?? []) walk(branch, at);
  };
  walk(CONFIG_SCHEMA, '');
  t.same(unbounded, [], 'no number key without a maximum');
});

t.test('[agent.env] must fit the kernel limit on argv and environment', async (t) => {
  const many = Array.from({ length: 90_000 }, (_, i) => `k${i} = ""`).join('\n');
  const e = fails(() => parse(`${MIN}[agent.env]\n${many}\n`));
  t.match(e, {
    code: 'ERR_AR_CONFIG_INVALID',
    exitCode: 78,
    key: 'agent.env',
    message: /^\[agent\.env\] takes 1396 KiB of the agent's environment \(90000 variables\); at most 1024 KiB.*ARG_MAX/,
  });
  t.equal(e.location?.line, 5, 'at the [agent.env] header');
  const one = fails(() => parse(`${MIN}[agent.env]\nBIG = "${'x'.repeat(200_000)}"\n`));
  t.match(one, { key: 'agent.env.BIG', message: /"BIG" is 196 KiB; one environment variable can be at most 128 KiB/ });
  t.match(
    fails(() => parse(`${MIN}[agent.env]\nX = "a\\u0000b"\n`)),
    { key: 'agent.env.X', expected: /without NUL/ },
  );
  t.match(
    fails(() => parse(`${MIN}[agent.env]\n"A=B" = "x"\n`)),
    { code: 'ERR_AR_CONFIG_UNKNOWN_KEY', key: 'agent.env."A=B"' },
  );
  t.match(
    fails(() => parse('[agent]\ncommand = ["c\\u0000"]\n[prompt]\nfile = "P.md"\n')),
    { key: 'agent.command[0]' },
    'no NUL in argv either',
  );
});

t.test('a project name derived from the work dir says so, and which key to set', async (t) => {
  const e = fails(() => parse(MIN, '/x/my proj/agent-runner.toml'));
  t.equal(
    e.message,
    'project name "my proj" derived from the directory /x/my proj is invalid; set `project = "my-proj"` in /x/my proj/agent-runner.toml',
  );
  t.match(e, {
    code: 'ERR_AR_CONFIG_INVALID',
    exitCode: 78,
    key: 'project',
    location: { file: '/x/my proj/agent-runner.toml', line: undefined },
  });
  t.equal(parse(`project = "my-proj"\n${MIN}`, '/x/my proj/agent-runner.toml').project, 'my-proj', 'setting it is the fix');
  const more = fails(() => parse(`${MIN}[runtime]\nrestart_delay_s = 5\n[vcs]\ndirty_action = "x"\n`, '/x/my proj/agent-runner.toml'));
  t.equal(more.code, 'ERR_AR_CONFIG_INVALID', 'schema problems come first, as before');
});

t.test('reasons are one line: values cut and escaped, problems capped', async (t) => {
  t.equal(showText('a\nb'), '"a\\nb"');
  t.equal(showText('x'.repeat(1000)), `"${'x'.repeat(80)}…" (1000 characters)`);
  t.equal(clampLine('a\u2028b\tc'), 'a\\u2028b\\tc');
  t.ok(clampLine('y'.repeat(1 << 20)).length <= 300);
  const huge = 'v\n'.repeat(500_000);
  const e = fails(() => parse(`${MIN}[vcs]\ndirty_action = "${huge.replace(/\n/g, '\\n')}"\n`));
  t.match(e.found, /^string "v\\nv\\n.*…" \(1000000 characters\)$/);
  oneLineReasons(t, e, 'a 1 MB value with newlines');
  const key = fails(() => parse(`${MIN}[runtime]\n"${'k'.repeat(500_000)}\\nx" = 1\n`));
  t.ok(key.message.length < 200, 'a 500 KB key is cut in the message');
  oneLineReasons(t, key, 'a 500 KB key');
  const syntax = fails(() => parse(`${MIN}x = "${'z'.repeat(1 << 20)}\n`));
  t.equal(syntax.code, 'ERR_AR_CONFIG_SYNTAX');
  oneLineReasons(t, syntax, 'a syntax error on a 1 MB line');
  t.match(
    fails(() => parse(`${MIN}[${'a.'.repeat(5000)}b]\n`)),
    { code: 'ERR_AR_CONFIG_UNKNOWN_KEY', key: 'a' },
    'a 5000-deep table',
  );
  t.match(
    fails(() => parse(`${MIN}${'a.'.repeat(50_000)}b = 1\n`)),
    { code: 'ERR_AR_CONFIG_UNKNOWN_KEY', exitCode: 78 },
    'a 50000-part key',
  );
  t.match(
    fails(() => parse(`${MIN}x = ${'['.repeat(5000)}${']'.repeat(5000)}\n`)),
    { code: 'ERR_AR_CONFIG_SYNTAX', exitCode: 78 },
    '5000 nested arrays',
  );
  const bad = Array.from({ length: 5000 }, (_, i) => `bogus_${i} = 1`).join('\n');
  const capped = fails(() => parse(`${MIN}[runtime]\n${bad}\n`));
  t.equal(capped.more.length, 20, '19 more problems and a count of the rest');
  t.equal(capped.more[19]?.message, 'and 4980 more problems not shown');
  t.equal(formatKeyPath(['agent', 'env', 'e'.repeat(1000)]), `agent.env."${'e'.repeat(64)}…"`);
});
