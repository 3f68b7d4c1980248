#!/usr/bin/env node
// Runner benchmarks (issue 3). Prints figures; asserts nothing. Build first: `npx tsc -b`.
//
//   node bench/runner.mjs [overhead|peek|rss ...]     (default: all three)
//
// - overhead: supervisor overhead per round with restart_delay_s = 0 and an agent that exits
//   at once — median time from the agent's last instruction to the next agent's first one.
// - peek: `peek --json` over 500,000 events and 5,000 ledger rounds, each run in a fresh
//   process: wall time (node start included) and peak RSS (ru_maxrss).
// - rss: RSS of serve after 10 rounds and after 1,000 rounds, idle and busy, with the units'
//   node options and with plain node.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const cli = join(root, 'packages/cli/dist/bin.js');
// serve runs with the node options of its unit, as in production.
const { DAEMON_NODE_OPTIONS } = await import(join(root, 'packages/cli/dist/systemd-templates.js'));
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const pct = (xs, p) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))];

function project(agent, runtime = 'heartbeat_interval_s = 10') {
  const dir = mkdtempSync(join(tmpdir(), 'ar-bench-'));
  const env = {
    ...process.env,
    HOME: dir,
    GIT_AUTHOR_NAME: 'b',
    GIT_AUTHOR_EMAIL: 'b@b',
    GIT_COMMITTER_NAME: 'b',
    GIT_COMMITTER_EMAIL: 'b@b',
  };
  writeFileSync(join(dir, 'agent.sh'), `#!/bin/sh\n${agent}\n`);
  chmodSync(join(dir, 'agent.sh'), 0o755);
  writeFileSync(join(dir, 'PROMPT.md'), 'bench\n');
  writeFileSync(join(dir, '.gitignore'), '/.state/\n/ts\n');
  writeFileSync(
    join(dir, 'agent-runner.toml'),
    `project = "bench"\n[agent]\ncommand = ["./agent.sh"]\n[prompt]\nfile = "PROMPT.md"\n[runtime]\nstate_dir = ".state"\nrestart_delay_s = 0\n${runtime}\n[vcs]\ndirty_action = "ignore"\n`,
  );
  execFileSync('git', ['init', '-q'], { cwd: dir, env });
  execFileSync('git', ['add', '-A'], { cwd: dir, env });
  execFileSync('git', ['commit', '-qm', 'bench'], { cwd: dir, env });
  return { dir, env };
}

function overhead() {
  const rounds = Number(process.env.BENCH_ROUNDS ?? 200);
  const p = project('read -r _ < /dev/null; echo "S $(date +%s%N)" >> ts; cat > /dev/null; echo "E $(date +%s%N)" >> ts');
  const t0 = Date.now();
  spawnSync(process.execPath, [...DAEMON_NODE_OPTIONS, cli, 'serve', '--max-rounds', String(rounds)], {
    cwd: p.dir,
    env: p.env,
    stdio: 'ignore',
  });
  const wall = Date.now() - t0;
  const lines = readFileSync(join(p.dir, 'ts'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => l.split(' '));
  const gaps = [];
  for (let i = 1; i < lines.length; i++)
    if (lines[i - 1][0] === 'E' && lines[i][0] === 'S') gaps.push((Number(lines[i][1]) - Number(lines[i - 1][1])) / 1e6);
  rmSync(p.dir, { recursive: true, force: true });
  console.log(`overhead: ${rounds} rounds in ${wall} ms (${(wall / rounds).toFixed(1)} ms/round incl. the agent)`);
  console.log(
    `  agent exit -> next agent start: median ${median(gaps).toFixed(1)} ms, p90 ${pct(gaps, 0.9).toFixed(1)} ms, max ${Math.max(...gaps).toFixed(1)} ms  (target <= 50 ms; Python anchor ~430 ms)`,
  );
}

async function peek() {
  const N = Number(process.env.BENCH_EVENTS ?? 500_000);
  const p = project('cat > /dev/null');
  const state = join(p.dir, '.state');
  const { EventWriter } = await import('@agent-runner/core/events');
  const { openLedger } = await import('@agent-runner/core/ledger');
  const t0 = Date.now();
  let now = Date.now() - N * 5_000; // one event every 5 s: ~29 days of history
  const w = new EventWriter({ dir: join(state, 'logs', 'events'), project: 'bench', unit: 'runner', now: () => now });
  const ledger = openLedger(join(state, 'ledger.sqlite3'));
  const runner = { pid: 1, bootId: 'x', starttimeTicks: 1, nonce: 'n' };
  for (let i = 0; i < N; i++) {
    now += 5_000;
    const round = Math.floor(i / 100) + 1;
    if (i % 100 === 0)
      w.emit('round_start', { phase: 'default', prompt_bytes: 1234, log_file: `/x/R${round}.log`, agent: 'claude' }, { round });
    else if (i % 100 === 99) {
      w.emit(
        'round_end',
        {
          phase: 'default',
          exit_code: 0,
          signal: null,
          duration_s: 412.5,
          classification: 'ok',
          output_bytes: 98765,
          usage: { input_tokens: 5, output_tokens: 6 },
          cost_usd: 0.08,
          evidence: [],
        },
        { round },
      );
      const n = ledger.runner.startRound({ runner, startedAtMs: now - 400_000 });
      ledger.runner.finishRound(n, { classification: 'ok', exitCode: 0, outputBytes: 98765, costUsd: 0.08, endedAtMs: now });
    } else w.emit('vcs_dirty_ignored', { files: i % 7, policy: 'ignore' }, { round });
  }
  ledger.close();
  w.close();
  console.log(`peek: generated ${N} events and ${N / 100} rounds in ${Date.now() - t0} ms`);
  // Wall time: the installed entry point in a fresh node, spawned by a small helper process (a
  // fork of this one, which holds the generated data, would cost more than peek's own start).
  const bin = join(root, 'packages/cli/bin/agent-runner.js');
  const timer = `const { spawnSync } = require('node:child_process');
const time = (args) => { const s = performance.now(); const r = spawnSync(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] }); if (r.status !== 0) process.exit(1); return performance.now() - s; };
const peek = [], node = [];
for (let i = 0; i < ${Number(process.env.BENCH_RUNS ?? 21)}; i++) { peek.push(time([${JSON.stringify(bin)}, 'peek', '--json'])); node.push(time(['-e', '0'])); }
console.log(JSON.stringify({ peek, node }));`;
  const timed = spawnSync(process.execPath, ['-e', timer], { cwd: p.dir, env: p.env, encoding: 'utf8' });
  if (timed.status !== 0) throw new Error(`peek --json failed: ${timed.stderr}`);
  const { peek: walls, node: base } = JSON.parse(timed.stdout);
  // Peak RSS: a preload reports ru_maxrss as the process exits.
  const preload = `data:text/javascript,${encodeURIComponent("import { writeSync } from 'node:fs'; process.on('exit', () => writeSync(2, `\\nmaxrss ${process.resourceUsage().maxRSS}\\n`));")}`;
  const rss = [];
  let bytes = 0;
  for (let i = 0; i < 3; i++) {
    const r = spawnSync(process.execPath, ['--import', preload, bin, 'peek', '--json'], { cwd: p.dir, env: p.env, encoding: 'utf8' });
    bytes = r.stdout.length;
    rss.push(Number(/maxrss (\d+)/.exec(r.stderr)[1]) / 1024);
  }
  console.log(
    `  peek --json, fresh process, median of ${walls.length}: wall ${median(walls).toFixed(0)} ms (p90 ${pct(walls, 0.9).toFixed(0)}; node -e 0 alone ${median(base).toFixed(0)} ms), peak RSS ${median(rss).toFixed(1)} MB, output ${bytes} bytes  (target <= 200 ms, <= 80 MB; Python anchor 2.2 s, 545 MB)`,
  );
  rmSync(p.dir, { recursive: true, force: true });
}

// RSS of serve at the start of round 11 and of round 1,001 (busy: rounds back to back), and
// after the agent of that round stayed silent for 5 s (idle: two 2 s heartbeat intervals).
function rss(label, nodeOptions) {
  const probe = 'grep VmRSS /proc/$PPID/status | tr -s " " | cut -d" " -f2 >> rss';
  const p = project(
    `cat > /dev/null\ncase "$AGENT_RUNNER_ROUND" in 11|1001) ${probe}; sleep 5; ${probe};; esac`,
    'heartbeat_interval_s = 2',
  );
  const t0 = Date.now();
  spawnSync(process.execPath, [...nodeOptions, cli, 'serve', '--max-rounds', '1001'], { cwd: p.dir, env: p.env, stdio: 'ignore' });
  const [busy10, idle10, busy1000, idle1000] = readFileSync(join(p.dir, 'rss'), 'utf8').trim().split('\n').map(Number);
  rmSync(p.dir, { recursive: true, force: true });
  const mb = (kb) => `${(kb / 1024).toFixed(1)} MB`;
  const growth = (a, b) => `${(((b - a) / a) * 100).toFixed(1)}%`;
  console.log(
    `rss (${label}): idle after 10 rounds ${mb(idle10)}, after 1,000 ${mb(idle1000)}: ${growth(idle10, idle1000)} (target <= 10%); busy ${mb(busy10)} -> ${mb(busy1000)}: ${growth(busy10, busy1000)}  (${((Date.now() - t0) / 1000).toFixed(0)} s)`,
  );
}

const which = process.argv.slice(2);
const all = which.length === 0;
if (all || which.includes('overhead')) overhead();
if (all || which.includes('peek')) await peek();
if (all || which.includes('rss')) {
  rss('node options of the units', DAEMON_NODE_OPTIONS);
  rss('plain node', []);
}
