// Memory of the whole suite for one project: serve, bridge, watchdog and a local monitor run
// as their units run them (the units' node options, packages/cli/dist/bin.js), on one project
// whose agent answers at once; after BENCH_IDLE_S s each process's memory is read from /proc,
// and `round` (one round in a fresh process) reports its peak. Build first.
//
//   node bench/suite.mjs            BENCH_IDLE_S=60 (seconds before the reading)
//
// Three figures per process, because RSS alone misleads for a suite of node processes:
// - VmRSS: resident pages, counting in full the ~35-45 MB of node's own binary and shared
//   libraries that every node process maps and that the four daemons share;
// - RssAnon: the process's own memory (heaps, malloc arenas, stacks), shared with no one;
// - Pss: resident pages with each shared page divided among the processes mapping it — the
//   sum over the suite is what it costs the machine (/proc/PID/smaps_rollup, Linux >= 4.14).
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const CLI = join(REPO, 'packages/cli/dist/bin.js');
const IDLE_S = Number(process.env.BENCH_IDLE_S ?? 60);
/** The node options in the ExecStart= of a verb's unit file (`units/`). */
const unitNodeOptions = (verb) =>
  /ExecStart=@NODE@ (.*?) @CLI@/
    .exec(readFileSync(join(REPO, `units/agent-runner${verb === 'serve' ? '' : `-${verb}`}@.service`), 'utf8'))[1]
    .split(' ');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const kib = (text, key) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN);

/** Memory of one process, MiB. */
function memory(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  return {
    rss: kib(status, 'VmRSS') / 1024,
    anon: kib(status, 'RssAnon') / 1024,
    pss: kib(rollup, 'Pss') / 1024,
    hwm: kib(status, 'VmHWM') / 1024,
  };
}

const hook = createServer((req, res) => req.resume().on('end', () => res.end('ok')));
await new Promise((r) => hook.listen(0, '127.0.0.1', r));
const dir = mkdtempSync(join(tmpdir(), 'ar-suite-bench-'));
const stateDir = join(dir, '.agent-runner');
mkdirSync(join(dir, 'home'));
writeFileSync(join(dir, 'PROMPT.md'), 'x\n');
writeFileSync(
  join(dir, 'agent-runner.toml'),
  [
    'project = "suite"',
    '[agent]',
    'preset = "generic"',
    'command = ["sh", "-c", "echo done"]',
    '[prompt]',
    'file = "PROMPT.md"',
    // A round every 30 s: serve spends the reading between rounds, as it does most of a day.
    '[runtime]',
    `state_dir = ${JSON.stringify(stateDir)}`,
    'restart_delay_s = 30',
    '[watchdog]',
    'targets = ["runner", "bridge", "monitor"]',
    '[notify.hook]',
    'type = "webhook"',
    `url = "http://127.0.0.1:${hook.address().port}/"`,
    '',
  ].join('\n'),
);
const env = { HOME: join(dir, 'home'), PATH: process.env.PATH, LANG: 'C.UTF-8', AGENT_RUNNER_CONFIG: join(dir, 'agent-runner.toml') };
execFileSync('git', ['init', '-q', dir]);
execFileSync('git', ['-C', dir, '-c', 'user.name=b', '-c', 'user.email=b@b', 'commit', '-q', '--allow-empty', '-m', 'init']);

const verbs = ['serve', 'bridge', 'watchdog', 'monitor'];
const kids = verbs.map((verb) =>
  spawn(process.execPath, [...unitNodeOptions(verb), CLI, verb], { cwd: dir, env, stdio: ['ignore', 'ignore', 'pipe'] }),
);
const errs = kids.map((c) => {
  let s = '';
  c.stderr.setEncoding('utf8').on('data', (d) => (s = (s + d).slice(-2000)));
  return () => s;
});
try {
  const t0 = Date.now();
  const lows = verbs.map(() => undefined);
  while (Date.now() - t0 < IDLE_S * 1000) {
    await sleep(5000);
    kids.forEach((c, i) => {
      if (c.exitCode !== null) throw new Error(`${verbs[i]} exited ${c.exitCode}: ${errs[i]()}`);
      // The lowest reading of the last 20 s: between two rounds or polls, not inside one.
      if (Date.now() - t0 >= (IDLE_S - 20) * 1000) {
        const m = memory(c.pid);
        if (!lows[i] || m.rss < lows[i].rss) lows[i] = m;
      }
    });
  }
  const f = (x) => x.toFixed(1).padStart(7);
  console.log(
    `idle ${IDLE_S} s, node ${process.versions.node}, ${verbs.map((v) => `${v}: ${unitNodeOptions(v).join(' ')}`).join(', ')}; MiB`,
  );
  console.log('process    VmRSS  RssAnon      Pss  VmHWM');
  verbs.forEach((v, i) => console.log(`${v.padEnd(9)}${f(lows[i].rss)}  ${f(lows[i].anon)}  ${f(lows[i].pss)}${f(lows[i].hwm)}`));
  const sum = (k) => lows.reduce((a, m) => a + m[k], 0);
  console.log(`${'suite'.padEnd(9)}${f(sum('rss'))}  ${f(sum('anon'))}  ${f(sum('pss'))}`);
} finally {
  for (const c of kids) c.kill('SIGTERM');
  await Promise.all(kids.map((c) => (c.exitCode === null ? new Promise((r) => c.once('exit', r)) : undefined)));
  hook.close();
}

// `round`: one round in a fresh process, as an operator or a timer runs it; peak RSS from
// ru_maxrss, reported by a preload as the process exits.
const preload = `data:text/javascript,${encodeURIComponent("import { writeSync } from 'node:fs'; process.on('exit', () => writeSync(2, `\\nmaxrss ${process.resourceUsage().maxRSS}\\n`));")}`;
const peaks = [];
for (let i = 0; i < 5; i++) {
  const r = await new Promise((res) => {
    const c = spawn(process.execPath, ['--import', preload, CLI, 'round'], { cwd: dir, env, stdio: ['ignore', 'ignore', 'pipe'] });
    let s = '';
    c.stderr.setEncoding('utf8').on('data', (d) => (s += d));
    c.on('close', (code) => res({ code, s }));
  });
  if (r.code !== 0) throw new Error(`round exited ${r.code}: ${r.s.slice(-500)}`);
  peaks.push(Number(/maxrss (\d+)/.exec(r.s)[1]) / 1024);
}
peaks.sort((a, b) => a - b);
console.log(`round (fresh process, plain node), peak RSS median of 5: ${peaks[2].toFixed(1)} MiB`);
rmSync(dir, { recursive: true, force: true });
