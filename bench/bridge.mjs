// Bridge figures (compiled code; run `npx tsc -b` first):
//  1. sustained notifications/s: the dispatcher drains BENCH_N (default 2000) producer rows,
//     fanned out to a loopback Matrix stub (one PUT each, keep-alive), through the ledger;
//  2. enqueue→delivery delay while idle: a real `agent-runner bridge` process, a producer in
//     this process enqueues one row every 300 ms, BENCH_LAT (default 30) times;
//  3. idle RSS of that process after BENCH_IDLE_S (default 5) s without work.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { configPaths, loadConfig } from '@agent-runner/core/config';
import { openLedger } from '@agent-runner/core/ledger';
import { Dispatcher } from '@agent-runner/bridge/dispatcher';
import { HttpClient } from '@agent-runner/bridge/http';
import { createTransport } from '@agent-runner/bridge/transports/index';

const N = Number(process.env.BENCH_N ?? 2000);
const LAT = Number(process.env.BENCH_LAT ?? 30);
const IDLE_S = Number(process.env.BENCH_IDLE_S ?? 5);
const CLI = fileURLToPath(new URL('../packages/cli/dist/bin.js', import.meta.url));
const ROOM = '!bench:hs';

// A minimal Matrix homeserver: txn-idempotent room send; arrival times by txn id.
const arrivals = new Map();
const server = createServer((req, res) => {
  let body = '';
  req.on('data', (c) => (body += c));
  req.on('end', () => {
    const m = /\/send\/m\.room\.message\/([^/?]+)$/.exec(req.url ?? '');
    if (m) {
      const txn = decodeURIComponent(m[1]);
      if (!arrivals.has(txn)) arrivals.set(txn, performance.timeOrigin + performance.now());
      res.writeHead(200, { 'content-type': 'application/json' });
      return res.end(JSON.stringify({ event_id: `$${txn}` }));
    }
    if ((req.url ?? '').startsWith('/_matrix/client/v3/sync')) {
      res.writeHead(200, { 'content-type': 'application/json' });
      return res.end(JSON.stringify({ next_batch: 's0', rooms: { join: {} } }));
    }
    res.writeHead(404).end('{}');
  });
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const hs = `http://127.0.0.1:${server.address().port}`;

const root = mkdtempSync(join(tmpdir(), 'ar-bench-bridge-'));
writeFileSync(join(root, 'PROMPT.md'), 'x');
const cfgPath = join(root, 'agent-runner.toml');
writeFileSync(
  cfgPath,
  `project = "bench"
[agent]
command = ["true"]
[prompt]
file = "PROMPT.md"
[runtime]
state_dir = "${root}/state"
[bridge]
dedupe_window_s = 0
[notify.mx]
type = "matrix"
homeserver = "${hs}"
room_id = "${ROOM}"
access_token_env = "MX"
min_severity = "info"
max_per_minute = 100000000
`,
);
const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: root, MX: 'tok' };
const cfg = loadConfig(cfgPath, { env, mode: 'user' });
const paths = configPaths(cfg);
const ledger = openLedger(paths.ledgerPath);

// 1. Throughput, in process.
{
  ledger.atomically(() => {
    for (let i = 0; i < N; i++)
      ledger.outbox.enqueue({ idempotencyKey: `tp:${i}`, kind: 'round_end', severity: 'warning', title: `n ${i}`, body: 'b' });
  });
  const http = new HttpClient();
  const ctx = { http, env, now: Date.now };
  const transports = new Map(cfg.notify.map((n) => [n.name, createTransport(n, ctx)]));
  let wake;
  const d = new Dispatcher({
    ledger,
    transports,
    config: cfg.bridge,
    claimant: 'bench',
    now: Date.now,
    startedAtMs: Date.now(),
    log: () => {},
    onDeadLetter: () => {},
    wake: () => wake?.(),
  });
  const t0 = performance.now();
  while (arrivals.size < N) {
    if (d.pump() === 0)
      await new Promise((r) => {
        wake = r;
        setTimeout(r, 20);
      });
  }
  const s = (performance.now() - t0) / 1000;
  await d.stop();
  await http.close();
  console.log(
    `throughput: ${N} notifications (routed + sent to a loopback Matrix stub) in ${s.toFixed(2)} s = ${Math.round(N / s)} notifications/s`,
  );
}

// 2 + 3. A real bridge process.
const child = spawn(process.execPath, [CLI, 'bridge', '--config', cfgPath], { env, stdio: ['ignore', 'ignore', 'pipe'] });
await new Promise((r) => child.stderr.on('data', (d) => String(d).includes('started') && r()));
await new Promise((r) => setTimeout(r, 500));
const delays = [];
for (let i = 0; i < LAT; i++) {
  await new Promise((r) => setTimeout(r, 300));
  const key = `lat:${i}`;
  const t0 = performance.timeOrigin + performance.now();
  ledger.outbox.enqueue({ idempotencyKey: key, kind: 'round_end', severity: 'warning', title: key, body: '' });
  while (!arrivals.has(`${key}:mx`)) await new Promise((r) => setTimeout(r, 1));
  delays.push(arrivals.get(`${key}:mx`) - t0);
}
delays.sort((a, b) => a - b);
const q = (p) => delays[Math.min(delays.length - 1, Math.floor(p * delays.length))].toFixed(1);
console.log(
  `idle enqueue→delivery (${LAT} samples, real bridge process): p50 ${q(0.5)} ms, p95 ${q(0.95)} ms, max ${delays.at(-1).toFixed(1)} ms`,
);
await new Promise((r) => setTimeout(r, IDLE_S * 1000));
const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
const rss = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
const hwm = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
console.log(`bridge idle RSS after ${IDLE_S} s idle: ${rss.toFixed(1)} MB (peak ${hwm.toFixed(1)} MB)`);
child.kill('SIGTERM');
await new Promise((r) => child.on('exit', r));
ledger.close();
server.close();
rmSync(root, { recursive: true, force: true });
