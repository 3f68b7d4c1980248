import t, { type Test } from 'tap';
import { spawn } from 'node:child_process';
import { configPaths, parseConfig } from '@agent-runner/core/config';
import { openLedger } from '@agent-runner/core/ledger';
import { CLI_BIN, runCli, tempProject, type CliResult } from '@agent-runner/testkit/project';
import { parseNumberArg } from '../src/args.js';
import { selectPath } from '../src/commands/peek.js';
import { LOGS_LINES_OPTION } from '../src/verbs/logs.js';
import { PORT_OPTION } from '../src/verbs/monitor.js';
import { MAX_ROUNDS_OPTION } from '../src/verbs/serve.js';

// Every numeric option of every verb: a bad value is exit 64 with one line naming the option,
// the value and what it takes — never exit 70, never accepted, never a busy loop.

const CONFIG = '[agent]\ncommand = ["sh", "-c", "exit 0"]\n[prompt]\nfile = "PROMPT.md"\n[runtime]\nstate_dir = ".state"\n';

/** A project whose ledger holds one finished round. */
function project() {
  const p = tempProject('args', { 'PROMPT.md': 'x', 'agent-runner.toml': CONFIG });
  const cfg = parseConfig(CONFIG, `${p.dir}/agent-runner.toml`, { env: { HOME: p.home }, mode: 'user' });
  const ledger = openLedger(configPaths(cfg).ledgerPath);
  const round = ledger.runner.startRound({ runner: { pid: process.pid, bootId: 'boot', starttimeTicks: 1, nonce: 'n' } });
  ledger.runner.finishRound(round, { classification: 'ok', exitCode: 0 });
  ledger.close();
  return p;
}

/** A usage error as the operator must see it: exit 64, the one line, nothing on stdout, no bug report. */
function assertUsage(t: Test, r: CliResult, message: RegExp, what: string): void {
  t.equal(r.code, 64, `${what}: exit 64 (got ${r.code}${r.signal ? `, ${r.signal}` : ''}; stderr ${JSON.stringify(r.stderr)})`);
  t.match(r.stderr, message, `${what}: says what is wrong`);
  t.notMatch(r.stderr, /internal error|this is a bug|\n\s+at /, `${what}: no internal error or stack trace`);
  t.equal(r.stdout, '', `${what}: nothing on stdout`);
}

t.test('bad numeric values: exit 64 naming the option, the value and what it takes', async (t) => {
  const p = project();
  t.teardown(p.cleanup);
  const run = (args: string[]) => runCli(args, { cwd: p.dir, env: p.env, timeoutMs: 30_000 });
  const cases: Array<[string[], RegExp]> = [
    // The reported cases.
    [['events', '--since', '9999999999d'], /--since "9999999999d" is too large: expected a duration of at most 3650d/],
    [['serve', '--max-rounds', '-1'], /--max-rounds "-1" is negative: expected a whole number from 0 to 1,000,000,000 \(0 = no limit\)/],
    [['serve', '--max-rounds', 'abc'], /--max-rounds "abc" is not a number: expected a whole number from 0/],
    [['watch', '--interval', '0'], /--interval "0" is too small: expected a number of seconds from 0\.2 to 3,600/],
    [['watch', '--interval', '-1'], /--interval "-1" is negative: expected a number of seconds from 0\.2 to 3,600/],
    [['events', '--round', 'abc'], /--round "abc" is not a number: expected a round number from 1 to 1,000,000,000/],
    [['peek', '--log', '--lines', '-5'], /--lines "-5" is negative: expected a whole number from 1 to 1,000,000/],
    // Durations.
    [['events', '--since', '3651d'], /--since "3651d" is too large/],
    [['events', '--since', '87600h1s'], /--since "87600h1s" is too large/],
    [['events', '--since', 'yesterday'], /--since "yesterday" is neither a duration nor an ISO time: expected a duration such as 30s/],
    [['watch', '--interval', '3601'], /--interval "3601" is too large: expected a number of seconds from 0\.2 to 3,600/],
    [['watch', '--interval', '1e-9'], /--interval "1e-9" is not a number/],
    [['watch', '--interval', 'Infinity'], /--interval "Infinity" is not a number/],
    [['stop', '--timeout', 'abc'], /--timeout "abc" is not a number: expected a number of seconds from 0\.1 to 604,800/],
    [['stop', '--timeout', '0'], /--timeout "0" is too small/],
    [['kill', '--timeout', '-3'], /--timeout "-3" is negative/],
    [['kill', '--timeout', '604801'], /--timeout "604801" is too large/],
    // Counts.
    [['serve', '--max-rounds', '1.5'], /--max-rounds "1\.5" is not a whole number/],
    [['serve', '--max-rounds', '1000000001'], /--max-rounds "1000000001" is too large/],
    [['serve', '--max-rounds', '0x10'], /--max-rounds "0x10" is not a number/],
    [['events', '--round', '0'], /--round "0" is too small: expected a round number from 1/],
    [['events', '--round', '1.5'], /--round "1\.5" is not a whole number/],
    [['events', '--limit', '0'], /--limit "0" is too small: expected a whole number from 1 to 1,000,000/],
    [['events', '--limit', 'abc'], /--limit "abc" is not a number/],
    [['events', '--limit', '1000001'], /--limit "1000001" is too large/],
    [['peek', '--round', '0'], /--round "0" is too small: expected a round number from 1 to 1,000,000,000, or "latest"/],
    [['peek', '--round', 'last'], /--round "last" is not a number: .*or "latest"/],
    [['peek', '--log', '--lines', '0'], /--lines "0" is too small/],
    [['peek', '--round', '1', '--log', '--lines', 'abc'], /--lines "abc" is not a number/],
    [['peek', '--log', '--lines', '5', '--lines', '6'], /--lines "5", "6" is given more than once/],
    [['logs', '--lines', '-1'], /--lines "-1" is negative: expected a whole number from 0 to 1,000,000/],
    [['logs', '-n', 'abc'], /--lines "abc" is not a number/],
    [['monitor', '--port', '65536'], /--port "65536" is too large: expected a port number from 0 to 65,535/],
    [['monitor', '--port', 'abc', '--once'], /--port "abc" is not a number/],
    [['monitor', '--port', '-1', '--once'], /--port "-1" is negative/],
    // A value left out.
    [['stop', '--timeout'], /Not enough arguments following: timeout/],
    [['watch', '--interval'], /Not enough arguments following: interval/],
    [['events', '--since'], /Not enough arguments following: since/],
    [['peek', '--round', '1', '--log', '--lines'], /Not enough arguments following: lines/],
  ];
  // A few at a time: forty cold node starts at once outlast any timeout on a loaded machine.
  const results: CliResult[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      for (let i = next++; i < cases.length; i = next++) results[i] = await run((cases[i] as [string[], RegExp])[0]);
    }),
  );
  cases.forEach(([args, message], i) => assertUsage(t, results[i] as CliResult, message, args.join(' ')));
});

t.test("--select picks only the snapshot's own fields, at every level", async (t) => {
  const p = project();
  t.teardown(p.cleanup);
  for (const path of [
    '__proto__',
    'toString',
    'constructor',
    'service.constructor',
    'service.__proto__',
    'rounds.length',
    'hasOwnProperty',
    'service.state.length',
  ]) {
    assertUsage(
      t,
      await runCli(['peek', '--select', path], { cwd: p.dir, env: p.env }),
      new RegExp(`--select ${path.replace(/\./g, '\\.')}: no such field`),
      `--select ${path}`,
    );
  }
  const ok = await runCli(['peek', '--select', 'service.state'], { cwd: p.dir, env: p.env });
  t.equal(ok.code, 0, ok.stderr);
  t.match(ok.stdout, /^\w+\n$/);
  const doc = { a: { b: [{ c: 1 }] } };
  t.equal(selectPath(doc, 'a.b.0.c'), 1);
  t.equal(selectPath(doc, 'a.b.length'), undefined);
  t.equal(selectPath(doc, 'a.toString'), undefined);
  t.equal(selectPath(doc, '__proto__'), undefined);
  t.equal(selectPath(Object.create({ inherited: 1 }) as unknown, 'inherited'), undefined);
});

t.test('a bad value is reported like any usage error: --json, and one line under the journal', async (t) => {
  const p = project();
  t.teardown(p.cleanup);
  const json = await runCli(['events', '--round', 'abc', '--json'], { cwd: p.dir, env: p.env });
  t.equal(json.code, 64);
  const err = (JSON.parse(json.stdout) as { ok: boolean; error: { code: string; key: string; message: string } }).error;
  t.match(err, { code: 'ERR_AR_USAGE', key: 'round', message: /^--round "abc" is not a number: expected a round number/ });
  const journal = await runCli(['watch', '--interval', '0'], { cwd: p.dir, env: { ...p.env, JOURNAL_STREAM: '8:1' } });
  t.equal(journal.code, 64);
  t.match(
    journal.stderr,
    /^<3>agent-runner: error: --interval "0" is too small: expected a number of seconds from 0\.2 to 3,600 \[ERR_AR_USAGE\] \| hint: .*\n$/,
  );
  t.equal(journal.stderr.split('\n').length, 2, 'one line');
});

t.test('good values are still accepted', async (t) => {
  const p = project();
  t.teardown(p.cleanup);
  const run = (args: string[]) => runCli(args, { cwd: p.dir, env: p.env, timeoutMs: 30_000 });
  for (const args of [
    ['events', '--since', '1h', '--round', '1', '--limit', '5'],
    ['events', '--since', '3650d', '--json'],
    ['events', '--since', '1h30m'],
    ['events', '--since', '2026-01-01T00:00:00Z', '--limit', '1000000'],
    ['peek', '--round', '1', '--log', '--lines', '5'],
    ['peek', '--round=latest', '--json'],
    ['peek', '--log', '--lines', '1000000'],
    ['stop', '--timeout', '0.5'],
    ['kill', '--timeout', '604800'],
  ]) {
    const r = await run(args);
    t.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
  }
  // `logs` needs installed units; the number itself passes.
  const logs = await run(['logs', '-n', '0']);
  t.notMatch(logs.stderr, /--lines/);
  t.match(logs.stderr, /no systemd units are installed/);

  // Values the spawned cases above cannot reach without running a daemon.
  t.equal(MAX_ROUNDS_OPTION['max-rounds'].coerce('0'), 0, '--max-rounds 0 = no limit');
  t.equal(MAX_ROUNDS_OPTION['max-rounds'].coerce('1000000000'), 1_000_000_000);
  t.equal(PORT_OPTION.port.coerce('0'), 0, '--port 0 = any free port');
  t.equal(PORT_OPTION.port.coerce('65535'), 65535);
  t.equal(LOGS_LINES_OPTION.lines.coerce(' 7 '), 7);
  t.equal(parseNumberArg('x', '2.5', { integer: false, min: 0.2, max: 10, what: 'a number' }), 2.5);
  t.equal(parseNumberArg('x', 2, { integer: true, min: 1, max: 10, what: 'a number' }), 2, 'a default');
  t.equal(parseNumberArg('x', 'latest', { integer: true, min: 1, max: 10, what: 'a round number', words: ['latest'] }), 'latest');

  // watch at the minimum interval refreshes and still ends on SIGTERM.
  const child = spawn(process.execPath, [CLI_BIN, 'watch', '--interval', '0.2'], { cwd: p.dir, env: p.env });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  const closed = new Promise<number | null>((r) => child.on('close', r));
  const end = Date.now() + 15_000;
  while ((out.match(/^project /gm) ?? []).length < 2 && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  t.equal(await closed, 0, 'watch --interval 0.2 ends on SIGTERM');
  clearTimeout(timer);
  t.ok((out.match(/^project /gm) ?? []).length >= 2, 'and refreshed');
});
