#!/usr/bin/env node
// Event stream benchmark (plain node over packages/core/dist; run `npx tsc -b` first).
//
//   node bench/events.mjs            all figures (generates bench/.data/events-1m once)
//   node bench/events.mjs --regen    regenerate the 1M-event stream first
//
// Prints figures, asserts nothing. Query figures come from a FRESH node process per run:
// "wall" is spawn to exit (node start + import + query), "query" is the call alone, "rss" is
// the child's peak resident set (ru_maxrss), "idle rss" the same child without a query.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const DIST = join(HERE, '..', 'packages', 'core', 'dist', 'events', 'index.js');
const DATA = join(HERE, '.data');
const STREAM = join(DATA, 'events-1m');
const GEN = { format: 2, events: 1_000_000, days: 30, growth: 1.25, seed: 42, end: '2026-06-30T23:00:00.000Z' };
const RUNS = Number(process.env.BENCH_RUNS ?? '5');

/** mulberry32: a seeded PRNG so the stream is the same on every machine. */
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

// Kind mix of a busy project: mostly round traffic, a tail of operational kinds.
const MIX = [
  ['round_start', 0.3],
  ['round_end', 0.3],
  ['vcs_committed', 0.16],
  ['transient_error_detected', 0.06],
  ['backoff_started', 0.05],
  ['round_grace_extended', 0.04],
  ['transient_error_recovered', 0.03],
  ['heal_verdict_changed', 0.025],
  ['command_received', 0.02],
  ['restart_marker_consumed', 0.01],
  ['heal_action', 0.001], // the rare-ish kind queried below
  ['crash_loop', 0.0005],
];

function payload(kind, r, i, ms) {
  const sha = ((i * 2654435761) >>> 0).toString(16).padStart(8, '0').repeat(5);
  switch (kind) {
    case 'round_start':
      return {
        phase: r() < 0.8 ? 'implement' : 'review',
        prompt_bytes: 4000 + Math.floor(r() * 9000),
        log_file: `/var/log/agent-runner/demo/rounds/R${i}-${new Date(ms).toISOString().replace(/[-:.]/g, '')}.log`,
        agent: 'claude',
        attempt: 1,
      };
    case 'round_end':
      return {
        phase: 'implement',
        exit_code: 0,
        signal: null,
        duration_s: Math.round(r() * 90000) / 100,
        classification: r() < 0.9 ? 'ok' : 'rate_limit',
        output_bytes: Math.floor(r() * 400000),
        usage: {
          input_tokens: Math.floor(r() * 90000),
          output_tokens: Math.floor(r() * 9000),
          cache_read_tokens: Math.floor(r() * 900000),
        },
        cost_usd: Math.round(r() * 300) / 100,
        evidence: [{ source: 'stream', line: 812, event_type: 'result', detail: 'success' }],
      };
    case 'vcs_committed':
      return {
        sha,
        files: 1 + Math.floor(r() * 12),
        message: 'agent-runner: round work — refactor the config loader and add tests for the edge cases',
      };
    case 'transient_error_detected':
      return {
        class: 'rate_limit',
        evidence:
          '{"type":"system","subtype":"api_retry","error_status":429,"error":"rate_limit_error: This request would exceed your account rate limit"}',
        http_status: 429,
        reset_at: new Date(ms + 3600e3).toISOString(),
      };
    case 'backoff_started':
      return {
        class: 'overloaded',
        delay_s: 60 + Math.floor(r() * 30),
        until: new Date(ms + 90e3).toISOString(),
        attempt: 1 + Math.floor(r() * 3),
      };
    case 'round_grace_extended':
      return {
        live_children: [
          { pid: 1000 + Math.floor(r() * 30000), cmdline: 'node /usr/lib/node_modules/@anthropic-ai/claude-code/cli.js --mcp-server' },
        ],
        ignored_children: [],
        grace_s: 30,
        extensions: 1,
      };
    case 'transient_error_recovered':
      return { class: 'rate_limit', downtime_s: Math.round(r() * 360000) / 100, failed_rounds: 1 + Math.floor(r() * 4) };
    case 'heal_verdict_changed':
      return {
        target: 'bridge',
        from: 'healthy',
        to: 'unhealthy',
        reason: 'heartbeat older than 180 s (last 2026-06-30T10:00:00Z); identity verified',
      };
    case 'command_received':
      return { command: 'status', args: [], platform: 'telegram', sender: '123456789', message_id: String(100000 + i), inbox_id: i };
    case 'restart_marker_consumed':
      return { nonce: sha.slice(0, 32), requested_at: new Date(ms - 2000).toISOString(), requested_by: 'watchdog', latency_s: 2.1 };
    case 'heal_action':
      return {
        target: 'bridge',
        tier: 1 + Math.floor(r() * 3),
        action: 'restart_marker',
        reason: 'heartbeat_stale: last beat 412 s ago, threshold 180 s',
        pid: 4242,
        nonce: sha.slice(0, 32),
        attempt: 1,
      };
    case 'crash_loop':
      return {
        consecutive: 5,
        threshold: 5,
        last_exit_code: 1,
        tail: 'Error: Cannot find module ./dist/index.js\n    at Module._resolveFilename (node:internal/modules/cjs/loader:1145:15)',
      };
    default:
      throw new Error(kind);
  }
}

function unitOf(kind) {
  if (kind.startsWith('heal_')) return 'watchdog';
  if (kind === 'command_received') return 'bridge';
  return 'runner';
}

async function generate() {
  const { EventWriter } = await import(DIST);
  const marker = join(STREAM, '.complete.json');
  if (existsSync(marker) && readFileSync(marker, 'utf8') === JSON.stringify(GEN)) return;
  rmSync(STREAM, { recursive: true, force: true });
  mkdirSync(STREAM, { recursive: true });
  const r = rng(GEN.seed);
  const endMs = Date.parse(GEN.end);
  const firstDay = Date.parse(GEN.end.slice(0, 10)) - (GEN.days - 1) * 86400e3;
  const weights = Array.from({ length: GEN.days }, (_, d) => GEN.growth ** d);
  const total = weights.reduce((a, b) => a + b, 0);
  let ms = 0;
  const writers = {};
  const now = () => ms;
  const cum = [];
  let acc = 0;
  for (const [k, p] of MIX) cum.push([k, (acc += p)]);
  const t0 = performance.now();
  let i = 0;
  for (let d = 0; d < GEN.days; d++) {
    const n = d === GEN.days - 1 ? GEN.events - i : Math.round((GEN.events * weights[d]) / total);
    const dayStart = firstDay + d * 86400e3;
    const span = d === GEN.days - 1 ? endMs - dayStart : 86400e3;
    const times = Array.from({ length: n }, () => dayStart + Math.floor(r() * span)).sort((a, b) => a - b);
    for (const t of times) {
      ms = t;
      const x = r() * acc;
      const kind = (cum.find(([, c]) => x < c) ?? cum[0])[0];
      const unit = unitOf(kind);
      writers[unit] ??= new EventWriter({ dir: STREAM, project: 'demo', unit, now });
      writers[unit].emit(kind, payload(kind, r, i, t), unit === 'runner' ? { round: Math.floor(i / 3) } : {});
      i++;
    }
  }
  for (const w of Object.values(writers)) w.close();
  const bytes = readdirSync(STREAM).reduce((s, f) => s + statSync(join(STREAM, f)).size, 0);
  writeFileSync(marker, JSON.stringify(GEN));
  console.log(
    `generated ${i} events, ${(bytes / 1e6).toFixed(0)} MB in ${GEN.days} files, ${(bytes / i).toFixed(0)} B/line avg, in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
  );
}

// ---- child modes ----------------------------------------------------------------------

async function childAppend(dir, count, id) {
  const { EventWriter } = await import(DIST);
  const w = new EventWriter({ dir, project: 'demo', unit: 'runner' });
  const r = rng(id + 1);
  const t0 = performance.now();
  for (let i = 0; i < count; i++) w.emit('round_start', payload('round_start', r, i, Date.now()), { round: i });
  w.close();
  process.stdout.write(JSON.stringify({ ms: performance.now() - t0 }));
}

async function childQuery(name, arg) {
  const { lastEvents, eventsSince } = await import(DIST);
  const importedAt = performance.now();
  let result;
  const t0 = performance.now();
  if (name === 'last-rare') result = lastEvents(STREAM, { n: 50, kinds: ['heal_action'] });
  else if (name === 'last-common') result = lastEvents(STREAM, { n: 50, kinds: ['round_end'] });
  else if (name === 'last-any') result = lastEvents(STREAM, { n: 50 });
  else if (name === 'last-absent') result = lastEvents(STREAM, { n: 50, kinds: ['service_upgrade_rollback_failed'] });
  else if (name === 'since-1h') result = eventsSince(STREAM, { sinceMs: Number(arg) - 3600e3 });
  else if (name === 'idle') result = { events: [] };
  const queryMs = performance.now() - t0;
  process.stdout.write(
    JSON.stringify({
      startupMs: importedAt, // since the process started (performance.timeOrigin)
      queryMs,
      events: result.events.length,
      files: result.filesRead,
      rssMB: process.resourceUsage().maxRSS / 1024,
    }),
  );
}

// ---- parent ---------------------------------------------------------------------------

function runChild(args) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const c = spawn(process.execPath, [fileURLToPath(import.meta.url), ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    c.stdout.on('data', (d) => (out += d));
    c.on('error', reject);
    c.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`child ${args.join(' ')} exited ${code}`));
      resolve({ wallMs: performance.now() - t0, ...JSON.parse(out) });
    });
  });
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const pad = (s, n) => String(s).padEnd(n);
const lpad = (s, n) => String(s).padStart(n);

async function benchAppend() {
  const { EventWriter } = await import(DIST);
  const dir = join(DATA, 'append-tmp');
  rmSync(dir, { recursive: true, force: true });
  const N = Number(process.env.BENCH_APPEND ?? '200000');
  const w = new EventWriter({ dir, project: 'demo', unit: 'runner' });
  const r = rng(7);
  const events = Array.from({ length: 1000 }, (_, i) => payload('round_start', r, i, Date.now()));
  const t0 = performance.now();
  for (let i = 0; i < N; i++) w.emit('round_start', events[i % 1000], { round: i });
  const single = performance.now() - t0;
  w.close();
  rmSync(dir, { recursive: true, force: true });
  const P = 4;
  const t1 = performance.now();
  const kids = await Promise.all(Array.from({ length: P }, (_, id) => runChild(['--child-append', dir, String(N / P), String(id)])));
  const multi = performance.now() - t1;
  const lines = readdirSync(dir).reduce((s, f) => s + readFileSync(join(dir, f), 'utf8').split('\n').length - 1, 0);
  rmSync(dir, { recursive: true, force: true });
  const slowest = Math.max(...kids.map((k) => k.ms));
  console.log('\nAppend (round_start, ~330-byte lines, validation included, no fsync)');
  console.log(`  1 process : ${N} events in ${single.toFixed(0)} ms = ${Math.round(N / (single / 1000)).toLocaleString('en')} events/s`);
  console.log(
    `  4 processes: ${N} events (${N / P} each, ${lines} lines) in ${slowest.toFixed(0)} ms of writing = ${Math.round(N / (slowest / 1000)).toLocaleString('en')} events/s aggregate (${multi.toFixed(0)} ms with process start)`,
  );
}

async function benchQueries() {
  const endMs = Date.parse(GEN.end);
  const queries = [
    ['idle', 'node start + import only (baseline)'],
    ['last-rare', 'last 50 heal_action (0.1% of events)'],
    ['last-common', 'last 50 round_end (30% of events)'],
    ['last-any', 'last 50 events, any kind'],
    ['since-1h', 'events since 1 h (all kinds)'],
    ['last-absent', 'last 50 of a kind never written (worst case: scans all)'],
  ];
  console.log(
    `\nQueries over ${GEN.events.toLocaleString('en')} events in ${GEN.days} daily files, each in a fresh node process (median of ${RUNS})`,
  );
  console.log(
    `  ${pad('query', 56)} ${lpad('wall ms', 8)} ${lpad('startup', 8)} ${lpad('query ms', 9)} ${lpad('peak RSS MB', 12)} ${lpad('events', 7)} ${lpad('files', 6)}`,
  );
  for (const [name, label] of queries) {
    const runs = [];
    for (let i = 0; i < RUNS; i++) runs.push(await runChild(['--child-query', name, String(endMs)]));
    const m = (k) => median(runs.map((x) => x[k]));
    console.log(
      `  ${pad(label, 56)} ${lpad(m('wallMs').toFixed(0), 8)} ${lpad(m('startupMs').toFixed(0), 8)} ${lpad(m('queryMs').toFixed(1), 9)} ${lpad(m('rssMB').toFixed(1), 12)} ${lpad(runs[0].events, 7)} ${lpad(runs[0].files ?? '-', 6)}`,
    );
  }
}

const [mode, ...rest] = process.argv.slice(2);
if (mode === '--child-append') await childAppend(rest[0], Number(rest[1]), Number(rest[2]));
else if (mode === '--child-query') await childQuery(rest[0], rest[1]);
else {
  if (mode === '--regen') rmSync(join(STREAM, '.complete.json'), { force: true });
  mkdirSync(DATA, { recursive: true });
  await generate();
  await benchAppend();
  await benchQueries();
}
