// Config reading never gives an internal error (issue 18): thousands of mutations of valid
// configs, and special files, through `config check` itself (the loader, the normalised print,
// the error report). Every outcome is a valid config or an AgentRunnerError with a non-70 exit
// and one-line reasons of sane length. Seeded: CONFIG_FUZZ_SEED=N reruns a failing case,
// CONFIG_FUZZ_N=N sets the count.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { isAgentRunnerError } from '@agent-runner/core/errors';
import { runCli } from '@agent-runner/testkit/project';
import { configCheck } from '../src/commands/config-check.js';
import type { CliContext } from '../src/context.js';
import { reportError } from '../src/output.js';

const root = new URL('../../../', import.meta.url).pathname;
const SEED = Number(process.env['CONFIG_FUZZ_SEED'] ?? 0x5eed18);
const N = Number(process.env['CONFIG_FUZZ_N'] ?? 3000);
const MESSAGE_MAX = 300;
const LINE_MAX = 1200;

const RICH = `project = "fuzz"
[agent]
preset = "claude"
command = ["claude", "-p"]
env = { MODE = "fast", "QUOTED KEY" = "v" }
[agent.patterns]
auth = ["401"]
[prompt]
file = "P.md"
[runtime]
work_dir = "."
restart_delay_s = 5
round_timeout_s = 3600
backoff = { base_s = 30, max_s = 1800 }
[runtime.crash_loop]
threshold = 5
[phases]
list = ["a", "b"]
[phases.b]
prompt.files = ["P.md"]
round_timeout_s = 10
[vcs]
dirty_action = "stash"
exclude = ["tmp"]
[monitor]
poll_interval_s = 30
disable = ["mem_pressure"]
[bridge]
quiet_hours = "22:30-07:00"
[notify.tg]
type = "telegram"
chat_id = 1
allowed_user_ids = [1, "2"]
[notify.mail]
type = "email"
smtp_host = "h"
from = "a@b.c"
to = ["x@y.z"]
[watchdog]
targets = ["runner"]
[watchdog.stale_after_s]
runner = 45
`;

let state = SEED >>> 0 || 1;
/** xorshift32: a small seeded generator, so a failure reproduces from its seed. */
function rand(n: number): number {
  state ^= state << 13;
  state ^= state >>> 17;
  state ^= state << 5;
  return (state >>> 0) % n;
}
const pick = <T>(a: readonly T[]): T => a[rand(a.length)] as T;

const KEYS = [
  '"k\\U0001F600"',
  '"a\\tb"',
  "'lit'",
  '"\\u00e9"',
  '"a.b"',
  'runtime . restart_delay_s',
  'x\t.\ty',
  '"\\\\"',
  '"\\""',
  '"\\e\\x41"',
  '""',
  "''",
  'ключ',
  '"a\\nb"',
  `"${'k'.repeat(3000)}"`,
  'env.X',
  'prompt . file',
];
const VALUES = [
  '-5',
  '0',
  '1.5',
  '"str"',
  'true',
  '[]',
  '[1, "a"]',
  '{}',
  '{ a = 1 }',
  '1979-05-27T07:32:00Z',
  '1979-05-27',
  '07:32:00',
  'nan',
  'inf',
  '-inf',
  '0x7FFFFFFF',
  '0o777',
  '0b101',
  '1e308',
  '99999999999999999999',
  '9007199254740993',
  '"a\\nb"',
  '"\\u0000"',
  '"""multi\nline"""',
  "'''lit\nml'''",
  '"\\U0001F600"',
  '-0.0',
  '604801',
  '604800',
  '"~/x"',
  '"{project}"',
  '"/dev/zero"',
  '["a", "a"]',
];
const CHARS = [
  '=',
  '"',
  "'",
  '[',
  ']',
  '{',
  '}',
  ',',
  '.',
  '\n',
  '#',
  '\\',
  '\t',
  ' ',
  '\r',
  '\u0000',
  '\u001b',
  'é',
  '😀',
  '\u2028',
  '\u200b',
  '\ufeff',
  '\uffff',
  '\ud800',
  'x',
  '0',
];
const HEADERS = [
  '[runtime]',
  '[ runtime ]',
  '["runtime"]',
  '[runtime."back off"]',
  '[agent.env]',
  '[notify."x y"]',
  '[phases.a]',
  '[[runtime]]',
  "['agent']",
  '[monitor]',
];

function kv(line: string): [string, string] | undefined {
  const i = line.indexOf('=');
  return i > 0 ? [line.slice(0, i).trim(), line.slice(i + 1).trim()] : undefined;
}

/** One mutation of `src`; the operators of issue 18's fuzz, each a common way configs go wrong. */
function mutate(src: string): string {
  const lines = src.split('\n');
  const li = rand(lines.length);
  const line = lines[li] ?? '';
  const pair = kv(line);
  const at = rand(src.length + 1);
  const set = (l: string): string => ((lines[li] = l), lines.join('\n'));
  switch (rand(14)) {
    case 0: // byte flip
      return src.slice(0, at) + pick(CHARS) + src.slice(at + 1);
    case 1: // truncation
      return src.slice(0, at);
    case 2: // key/value swap
      return pair ? set(`${pair[1]} = ${pair[0]}`) : src;
    case 3: // quoted, escaped, literal and dotted keys
      return pair ? set(`${pick(KEYS)} = ${pair[1]}`) : src;
    case 4: // tabs instead of spaces
      return set(line.replace(/ /g, () => (rand(2) ? '\t' : ' ')).replace(/^/, rand(2) ? '\t' : ''));
    case 5: // unicode and control characters
      return src.slice(0, at) + pick(CHARS) + pick(CHARS) + src.slice(at);
    case 6: {
      // huge values, keys, arrays, tables (rarely: they cost time)
      if (rand(8)) return pair ? set(`${pair[0]} = "${'x'.repeat(rand(2000))}"`) : src;
      const n = pick([70_000, 200_000, 600_000]);
      return pick([
        () => `${src}\n[vcs]\ncommit_message = "${'y\\n'.repeat(n / 3)}"\n`,
        () => `${src}\n"${'k'.repeat(n)}" = 1\n`,
        () => (pair ? set(`${pair[0]} = [${'1,'.repeat(n / 2)}1]`) : src),
        () => `${src}\n[agent.env]\n${Array.from({ length: n / 8 }, (_, i) => `V${i} = "v"`).join('\n')}\n`,
        () => `${src}\n[agent.env]\nBIG = "${'b'.repeat(n)}"\n`,
      ])();
    }
    case 7: {
      // deep tables and arrays
      const d = pick([10, 100, 1200, 5000]);
      return pick([
        () => `${src}\n[${'a.'.repeat(d)}b]\nx = 1\n`,
        () => `${src}\n${'d.'.repeat(d)}e = 1\n`,
        () => `${src}\nx = ${'['.repeat(d)}${']'.repeat(d)}\n`,
        () => `${src}\nx = ${'{ a = '.repeat(d)}1${' }'.repeat(d)}\n`,
      ])();
    }
    case 8: // type changes and boundary values
      return pair ? set(`${pair[0]} = ${pick(VALUES)}`) : src;
    case 9: // duplicate a line
      return (lines.splice(li, 0, line), lines.join('\n'));
    case 10: // delete a line
      return (lines.splice(li, 1), lines.join('\n'));
    case 11: // headers: quoted, spaced, arrays of tables
      return line.startsWith('[') ? set(pick(HEADERS)) : src.slice(0, at) + `\n${pick(HEADERS)}\n` + src.slice(at);
    case 12: // CRLF and stray whitespace
      return src.replace(/\n/g, () => (rand(3) ? '\n' : '\r\n'));
    default: // swap two lines (a key moves to another table)
      return ((): string => {
        const other = rand(lines.length);
        [lines[li], lines[other]] = [lines[other] ?? '', line];
        return lines.join('\n');
      })();
  }
}

function sink(add: (s: string) => void): Writable {
  return new Writable({ write: (chunk, _enc, cb) => (add(String(chunk)), cb()) });
}

interface Outcome {
  code: number;
  stderr: string;
  failure?: string;
}

/** Runs `config check` in-process on `file`, as the bin does (report included), and judges it. */
function check(dir: string, file: string, json: boolean): Outcome {
  let stdout = '';
  let stderr = '';
  const ctx = {
    env: { HOME: dir },
    cwd: dir,
    mode: 'user',
    stdout: sink((s) => (stdout += s)),
    stderr: sink((s) => (stderr += s)),
  } as unknown as CliContext;
  let code: number;
  try {
    code = configCheck(ctx, { config: file, json });
  } catch (e) {
    code = reportError(ctx, e, json);
    if (!isAgentRunnerError(e)) return { code, stderr, failure: `not an AgentRunnerError: ${(e as Error).stack ?? String(e)}` };
    for (const x of [e, ...e.more]) {
      if (/[\n\r]/.test(x.message) || x.message.length > MESSAGE_MAX)
        return { code, stderr, failure: `message not one short line: ${x.message.slice(0, 300)}` };
      for (const v of [x.expected, x.found])
        if (v !== undefined && (/[\n\r]/.test(v) || v.length > 3 * MESSAGE_MAX))
          return { code, stderr, failure: `expected/found not one line: ${v.slice(0, 300)}` };
    }
    if (e.more.length > 20) return { code, stderr, failure: `${e.more.length} problems reported` };
  }
  if (code === 70 || /internal error/.test(stderr + stdout)) return { code, stderr, failure: `internal error: ${stderr.slice(0, 500)}` };
  const long = stderr.split('\n').find((l) => l.length > LINE_MAX);
  if (long) return { code, stderr, failure: `a stderr line of ${long.length} characters` };
  if (code === 0 && !stdout) return { code, stderr, failure: 'valid, but nothing printed' };
  return { code, stderr };
}

/** The example projects (examples/hooks/ holds hook scripts, no project). */
const exampleDirs = (): string[] =>
  readdirSync(join(root, 'examples')).filter((d) => existsSync(join(root, 'examples', d, 'agent-runner.toml')));

/** A work dir holding every file the base configs name (the examples' prompts, P.md). */
function project(): string {
  const dir = mkdtempSync(join(tmpdir(), 'ar-cfg-fuzz-'));
  for (const d of exampleDirs()) cpSync(join(root, 'examples', d), dir, { recursive: true });
  writeFileSync(join(dir, 'P.md'), 'prompt');
  return dir;
}

t.test(`config mutation fuzz through config check (seed ${SEED}, ${N} mutations)`, async (t) => {
  t.comment(`seed ${SEED}: rerun with CONFIG_FUZZ_SEED=${SEED}`);
  const dir = project();
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const examples = exampleDirs().map((d) => readFileSync(join(root, 'examples', d, 'agent-runner.toml'), 'utf8'));
  const bases = [RICH, ...examples];
  const file = join(dir, 'agent-runner.toml');
  for (const base of bases) {
    writeFileSync(file, base);
    t.equal(check(dir, file, false).code, 0, 'every base config is valid');
  }
  const started = Date.now();
  const codes: Record<string, number> = {};
  for (let i = 0; i < N; i++) {
    let src = pick(bases);
    for (let k = 0, m = 1 + rand(3); k < m; k++) src = mutate(src);
    writeFileSync(file, src);
    const r = check(dir, file, rand(10) === 0);
    codes[r.code] = (codes[r.code] ?? 0) + 1;
    if (r.failure) {
      writeFileSync(join(tmpdir(), `ar-cfg-fuzz-failure-${SEED}.toml`), src);
      t.fail(`mutation ${i} (seed ${SEED}): ${r.failure}\n(the config is in ${join(tmpdir(), `ar-cfg-fuzz-failure-${SEED}.toml`)})`);
      return;
    }
  }
  const ms = Date.now() - started;
  t.pass(`${N} mutations in ${ms} ms, exit codes ${JSON.stringify(codes)}`);
  t.notOk(codes['70'], 'no internal error');
  t.ok((codes['0'] ?? 0) > 0 && (codes['78'] ?? 0) > N / 4, 'the fuzz reaches both valid and broken configs');
  t.ok(ms < 45_000, 'well under a minute');
});

t.test('special files: refused with a clear error, exit 78, never blocking', async (t) => {
  const dir = project();
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  execFileSync('mkfifo', [join(dir, 'fifo')]);
  mkdirSync(join(dir, 'a-dir'));
  writeFileSync(join(dir, 'big.toml'), `# ${'x'.repeat(2 * 1024 * 1024)}\n`);
  symlinkSync(join(dir, 'loop2'), join(dir, 'loop1'));
  symlinkSync(join(dir, 'loop1'), join(dir, 'loop2'));
  symlinkSync(join(dir, 'nowhere'), join(dir, 'dangling'));
  writeFileSync(join(dir, 'latin1.toml'), Buffer.from('[agent]\ncommand = ["\xe9"]\n', 'latin1'));
  const cases: Array<[string, RegExp]> = [
    [join(dir, 'fifo'), /is a named pipe \(FIFO\), not a regular file/],
    [join(dir, 'a-dir'), /is a directory, not a regular file/],
    ['/dev/null', /is a character device, not a regular file/],
    ['/dev/zero', /is a character device, not a regular file/],
    [join(dir, 'big.toml'), /is 2\.0 MiB, more than the 1\.0 MiB/],
    [join(dir, 'loop1'), /is a symlink loop/],
    [join(dir, 'dangling'), /does not exist/],
    [join(dir, 'latin1.toml'), /\[ERR_AR_CONFIG_/],
    ['/proc/self/status', /invalid TOML/],
  ];
  for (const [file, message] of cases) {
    const started = Date.now();
    const r = check(dir, file, false);
    t.notOk(r.failure, `${file}: ${r.failure ?? 'classified'}`);
    t.equal(r.code, 78, `${file}: exit 78`);
    t.match(r.stderr, message, `${file}: says what it is`);
    t.ok(Date.now() - started < 2000, `${file}: at once`);
  }
});

t.test('the bin refuses a FIFO without blocking on it (no writer, no SIGTERM needed)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ar-cfg-fifo-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const fifo = join(dir, 'agent-runner.toml');
  execFileSync('mkfifo', [fifo]);
  const r = await runCli(['config', 'check', '-c', fifo], {
    cwd: dir,
    env: { HOME: dir, PATH: process.env['PATH'] ?? '' },
    timeoutMs: 20_000,
  });
  t.equal(r.code, 78, r.stderr);
  t.match(r.stderr, /agent-runner\.toml is a named pipe \(FIFO\), not a regular file \[ERR_AR_CONFIG_NOT_FOUND\]/);
});
