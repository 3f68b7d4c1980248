#!/usr/bin/env node
// The operator's views (plain node over the compiled packages; run `npx tsc -b` first).
//
//   node bench/ui.mjs          BENCH_ROUNDS (default 5000 rounds over 7 days), BENCH_RUNS (50)
//
// Prints figures, asserts nothing. A project whose ledger holds BENCH_ROUNDS finished rounds
// spread over the last 7 days and whose live round log holds 2,000 lines of Claude Code
// stream-json (the real capture's events, repeated):
// 1. page load: `GET /` and `/api/state` of a running `agent-runner monitor --mode http`
//    (dashboard, transcript), median and worst of BENCH_RUNS requests after one warm-up;
// 2. `watch` redraw cost: one frame as watch builds it (peek snapshot, transcript of the round
//    log, the 80x24 and 200x50 screens), in this process, median of BENCH_RUNS.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const CLI = join(ROOT, 'packages/cli/dist/bin.js');
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5000);
const RUNS = Number(process.env.BENCH_RUNS ?? 50);
const { loadConfig, configPaths } = await import(join(ROOT, 'packages/core/dist/config/index.js'));
const { openLedger } = await import(join(ROOT, 'packages/core/dist/ledger/index.js'));
const { renderTranscript } = await import(join(ROOT, 'packages/core/dist/transcript/index.js'));
const { buildPeek } = await import(join(ROOT, 'packages/runner/dist/peek.js'));
const { tailLines } = await import(join(ROOT, 'packages/runner/dist/round-log.js'));
const { renderWatch } = await import(join(ROOT, 'packages/cli/dist/render-watch.js'));

const stats = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return `median ${s[Math.floor(s.length / 2)].toFixed(1)} ms, worst ${s.at(-1).toFixed(1)} ms`;
};

const dir = mkdtempSync(join(tmpdir(), 'ar-bench-ui-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
writeFileSync(join(dir, 'PROMPT.md'), 'x\n');
writeFileSync(
  join(dir, 'agent-runner.toml'),
  'project = "ui"\n[agent]\npreset = "claude"\ncommand = ["claude", "-p"]\n[prompt]\nfile = "PROMPT.md"\n[runtime]\nstate_dir = "state"\n',
);
const env = { HOME: join(dir, 'home'), PATH: process.env.PATH, LANG: 'C.UTF-8' };
const cfg = loadConfig(join(dir, 'agent-runner.toml'), { env, mode: 'user', skipFileChecks: true });
const paths = configPaths(cfg);
mkdirSync(paths.roundsDir, { recursive: true });

const now = Date.now();
const ledger = openLedger(paths.ledgerPath);
const runner = { pid: 1, bootId: 'b', starttimeTicks: 1, nonce: 'n' };
const classes = ['ok', 'ok', 'ok', 'ok', 'rate_limit', 'overloaded', 'crash', 'timeout'];
for (let i = 0; i < ROUNDS; i++) {
  const at = now - 7 * 86_400_000 + Math.floor((i * 7 * 86_400_000) / ROUNDS);
  const n = ledger.runner.startRound({ runner, startedAtMs: at });
  ledger.runner.finishRound(n, {
    classification: classes[i % classes.length],
    costUsd: 0.05,
    inputTokens: 1200,
    outputTokens: 300,
    endedAtMs: at + 60_000,
  });
}
ledger.close();
const capture = readFileSync(join(ROOT, 'packages/runner/test/fixtures/claude/claude-2.1.330-success-write-tool.jsonl'), 'utf8')
  .trim()
  .split('\n');
const log = join(paths.roundsDir, `R${ROUNDS}-live.log`);
writeFileSync(log, `${Array.from({ length: 2000 }, (_, i) => capture[i % capture.length]).join('\n')}\n`);
symlinkSync(log, paths.currentRoundLog);

// 2. watch frames, in-process.
for (const [columns, rows] of [
  [80, 24],
  [200, 50],
]) {
  const times = [];
  for (let i = 0; i <= RUNS; i++) {
    const t0 = performance.now();
    const snapshot = await buildPeek(cfg, { nowMs: Date.now() });
    const transcript = renderTranscript(tailLines(log, rows * 4)).slice(-rows);
    renderWatch({ snapshot, transcript, view: 'main', columns, rows, intervalS: 2, nowMs: Date.now() });
    if (i > 0) times.push(performance.now() - t0);
  }
  console.log(`watch frame ${columns}x${rows} (${ROUNDS} rounds, 2000-line stream-json log): ${stats(times)}`);
}

// 1. the page of a running monitor.
const mon = spawn(process.execPath, [CLI, 'monitor', '--mode', 'http', '--port', '0'], {
  cwd: dir,
  env,
  stdio: ['ignore', 'ignore', 'pipe'],
});
let err = '';
mon.stderr.setEncoding('utf8').on('data', (d) => (err += d));
const port = await new Promise((resolve, reject) => {
  const t = setInterval(() => {
    const m = /127\.0\.0\.1:(\d+)\//.exec(err);
    if (m) resolve(Number(m[1]));
  }, 50);
  mon.on('exit', () => reject(new Error(`monitor exited: ${err}`)));
  setTimeout(() => clearInterval(t), 30_000);
});
for (const path of ['/', '/api/state']) {
  const times = [];
  let bytes = 0;
  for (let i = 0; i <= RUNS; i++) {
    const t0 = performance.now();
    const body = await (await fetch(`http://127.0.0.1:${port}${path}`)).text();
    if (i > 0) times.push(performance.now() - t0);
    bytes = body.length;
  }
  console.log(`GET ${path} (${ROUNDS} rounds in 7 days): ${stats(times)}, ${(bytes / 1024).toFixed(0)} KiB`);
}
mon.kill('SIGTERM');
