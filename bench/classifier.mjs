#!/usr/bin/env node
// Adapter benchmarks (issue 4). Prints figures; asserts nothing. Build first: `npx tsc -b`.
//
//   node bench/classifier.mjs [auth|throughput|share ...]     (default: all three)
//
// - auth: the REAL Claude Code CLI (root devDependency) against the local Messages API stub
//   answering 401, through the runner's own path (spawnAgent + superviseRound + the claude
//   classifier): time from the CLI's first authentication-failure line reaching the runner to
//   the round's process group being gone (superviseRound resolved). CLAUDE_CODE_MAX_RETRIES=10,
//   so the CLI alone would retry for minutes. BENCH_AUTH_RUNS (default 7).
// - throughput: the claude classifier (and LineSplitter + classifier, as the supervisor runs
//   them) over a 100 MB stream-json transcript built from the real captures in
//   packages/runner/test/fixtures/claude/ (bench/.data/claude-100mb.jsonl; BENCH_MB to resize).
// - share: CPU time spent in the classifier during real successful rounds (Write tool, then
//   text) divided by the round's wall time. BENCH_SHARE_RUNS (default 3).
import { execFileSync } from 'node:child_process';
import { createReadStream, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const { spawnAgent } = await import(join(root, 'packages/runner/dist/agent-process.js'));
const { superviseRound } = await import(join(root, 'packages/runner/dist/supervise.js'));
const { LineSplitter } = await import(join(root, 'packages/runner/dist/line-splitter.js'));
const { claudeAdapter } = await import(join(root, 'packages/runner/dist/adapters/claude.js'));
const { startAnthropicStub } = await import(join(root, 'packages/testkit/dist/anthropic-stub.js'));
const { claudeBin } = await import(join(root, 'packages/testkit/dist/claude-cli.js'));

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (n, d = 0) => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
const which = process.argv.slice(2).length ? process.argv.slice(2) : ['auth', 'throughput', 'share'];

/** One round of the real Claude CLI through spawnAgent + superviseRound. */
async function claudeRound(script, maxRetries, wrap = (c) => c) {
  const bin = claudeBin();
  if (!bin) throw new Error('node_modules/.bin/claude missing (root devDependency @anthropic-ai/claude-code)');
  const dir = mkdtempSync(join(tmpdir(), 'ar-bench-cls-'));
  const wt = join(dir, 'wt');
  mkdirSync(join(dir, 'home'));
  execFileSync('git', ['init', '-q', wt]);
  const stub = await startAnthropicStub({ script: typeof script === 'function' ? script(wt) : script });
  const preset = claudeAdapter.preset;
  const seen = { fatalAtMs: undefined, fatalLine: undefined };
  const inner = claudeAdapter.createClassifier();
  const recording = {
    line(text, lineNo) {
      const s = inner.line(text, lineNo);
      if (s?.kind === 'fatal' && seen.fatalAtMs === undefined) {
        seen.fatalAtMs = performance.timeOrigin + performance.now();
        seen.fatalLine = lineNo;
      }
      return s;
    },
    finish: (o) => inner.finish(o),
  };
  const classifier = wrap(recording);
  const startedAtMs = Date.now();
  const handle = await spawnAgent({
    argv: [bin, ...preset.command.slice(1)],
    cwd: wt,
    env: {
      PATH: process.env.PATH,
      HOME: join(dir, 'home'),
      ANTHROPIC_BASE_URL: stub.url,
      ANTHROPIC_API_KEY: 'sk-ant-stub-key',
      CLAUDE_CODE_MAX_RETRIES: String(maxRetries),
      IS_SANDBOX: '1',
      HTTPS_PROXY: 'http://127.0.0.1:9',
      HTTP_PROXY: 'http://127.0.0.1:9',
      NO_PROXY: '127.0.0.1,localhost',
      ...preset.env,
    },
    delivery: { mode: 'stdin' },
    prompt: 'Do the task.',
    terminal: 'pipe',
  });
  const result = await superviseRound({
    handle,
    classifier,
    startedAtMs,
    limits: {
      roundTimeoutMs: 120_000,
      inactivityTimeoutMs: 60_000,
      graceAfterResultMs: 2_000,
      killGraceMs: 500,
      ignorePatterns: preset.grace_kill_ignore_patterns.map((p) => new RegExp(p)),
      groupPollMs: 10,
    },
    kill: (pid, sig) => process.kill(pid, sig),
  });
  const goneAtMs = performance.timeOrigin + performance.now();
  handle.dispose();
  const first401 = stub.messages().find((r) => r.answered === 401);
  const apiCalls = stub.messages().length;
  await stub.close();
  rmSync(dir, { recursive: true, force: true });
  return { result, seen, goneAtMs, first401, apiCalls, wallMs: Date.now() - startedAtMs };
}

async function benchAuth() {
  const runs = Number(process.env.BENCH_AUTH_RUNS ?? 7);
  const toGone = [];
  const fromApi = [];
  for (let i = 0; i < runs; i++) {
    const r = await claudeRound([{ kind: 'error', status: 401, type: 'authentication_error', message: 'invalid x-api-key' }], 10);
    if (r.seen.fatalAtMs === undefined) {
      console.log(`  run ${i + 1}: no fatal signal (verdict ${r.result.verdict.class})`);
      continue;
    }
    toGone.push(r.goneAtMs - r.seen.fatalAtMs);
    if (r.first401?.answeredAtMs) fromApi.push(r.seen.fatalAtMs - r.first401.answeredAtMs);
    console.log(
      `  run ${i + 1}: line ${r.seen.fatalLine} fatal ${r.result.verdict.class}; first 401 -> fatal line ${fmt(r.seen.fatalAtMs - (r.first401?.answeredAtMs ?? NaN))} ms; fatal line -> group gone ${fmt(r.goneAtMs - r.seen.fatalAtMs, 1)} ms; API calls ${r.apiCalls}; killedBy ${r.result.killedBy}`,
    );
  }
  console.log(
    `auth: first auth-failure line -> process group gone: median ${fmt(median(toGone), 1)} ms, max ${fmt(Math.max(...toGone), 1)} ms (${toGone.length} runs; target < 2000 ms)`,
  );
  console.log(`auth: first 401 sent by the stub -> fatal line read by the runner: median ${fmt(median(fromApi))} ms`);
}

function transcriptPath() {
  const mb = Number(process.env.BENCH_MB ?? 100);
  const dir = join(root, 'bench/.data');
  const path = join(dir, `claude-${mb}mb.jsonl`);
  if (existsSync(path) && statSync(path).size >= mb * 1e6) return path;
  mkdirSync(dir, { recursive: true });
  const fixtures = join(root, 'packages/runner/test/fixtures/claude');
  // Successful rounds only (tool calls, tool results, results): what most of a day's output is.
  const lines = readdirSync(fixtures)
    .filter((f) => /success|tool-output|ok-oauth|background-task/.test(f) && f.endsWith('.jsonl'))
    .flatMap((f) => readFileSync(join(fixtures, f), 'utf8').split('\n').filter(Boolean));
  const block = `${lines.join('\n')}\n`;
  const reps = Math.ceil((mb * 1e6) / Buffer.byteLength(block));
  writeFileSync(path, block.repeat(reps));
  return path;
}

async function benchThroughput() {
  const path = transcriptPath();
  const bytes = statSync(path).size;
  const text = readFileSync(path, 'utf8');
  const lines = text.split('\n');
  lines.pop();
  console.log(
    `throughput: ${path.replace(root, '')}: ${fmt(bytes / 1e6, 1)} MB, ${fmt(lines.length)} lines (avg ${fmt(bytes / lines.length)} B)`,
  );
  const runs = Number(process.env.BENCH_RUNS ?? 3);
  const clsOnly = [];
  const withSplit = [];
  for (let i = 0; i < runs; i++) {
    let c = claudeAdapter.createClassifier();
    let t0 = process.cpuUsage();
    for (let n = 0; n < lines.length; n++) c.line(lines[n], n + 1);
    let d = process.cpuUsage(t0);
    clsOnly.push((d.user + d.system) / 1e6);
    // As the supervisor does: 64 KiB pipe chunks -> LineSplitter -> classifier.
    c = claudeAdapter.createClassifier();
    const splitter = new LineSplitter();
    t0 = process.cpuUsage();
    await new Promise((res, rej) => {
      const s = createReadStream(path, { highWaterMark: 65536 });
      s.on('data', (chunk) => {
        for (const l of splitter.push(chunk)) c.line(l.text, l.lineNo);
      });
      s.on('end', res);
      s.on('error', rej);
    });
    d = process.cpuUsage(t0);
    withSplit.push((d.user + d.system) / 1e6);
  }
  const a = median(clsOnly);
  const b = median(withSplit);
  console.log(
    `throughput: classifier alone: ${fmt(lines.length / a)} lines/s, ${fmt(bytes / 1e6 / a, 1)} MB/s (CPU ${fmt(a, 2)} s, median of ${runs})`,
  );
  console.log(
    `throughput: read + LineSplitter + classifier: ${fmt(lines.length / b)} lines/s, ${fmt(bytes / 1e6 / b, 1)} MB/s (CPU ${fmt(b, 2)} s)`,
  );
  return { linesPerS: lines.length / a, mbPerS: bytes / 1e6 / a };
}

async function benchShare() {
  const runs = Number(process.env.BENCH_SHARE_RUNS ?? 3);
  const shares = [];
  for (let i = 0; i < runs; i++) {
    let cpuUs = 0;
    let lines = 0;
    let bytes = 0;
    const wrap = (c) => ({
      line(text, lineNo) {
        const t0 = process.cpuUsage();
        const s = c.line(text, lineNo);
        const d = process.cpuUsage(t0);
        cpuUs += d.user + d.system;
        lines += 1;
        bytes += Buffer.byteLength(text) + 1;
        return s;
      },
      finish: (o) => c.finish(o),
    });
    const r = await claudeRound(
      (wt) => [
        {
          kind: 'tool_use',
          name: 'Write',
          text: 'Creating the file.',
          input: { file_path: join(wt, 'a.txt'), content: 'x\n'.repeat(2000) },
        },
        { kind: 'tool_use', name: 'Bash', input: { command: 'seq 1 3000', description: 'count' } },
        { kind: 'text', text: 'Done.' },
      ],
      1,
      wrap,
    );
    const share = cpuUs / 1000 / r.wallMs;
    shares.push(share);
    console.log(
      `  run ${i + 1}: ${r.result.verdict.class}, ${lines} lines, ${fmt(bytes / 1024, 1)} KiB, classifier CPU ${fmt(cpuUs / 1000, 2)} ms, round wall ${fmt(r.wallMs)} ms -> ${fmt(share * 100, 3)} %`,
    );
  }
  console.log(`share: classifier CPU / round wall time: median ${fmt(median(shares) * 100, 3)} % (${runs} real rounds)`);
}

for (const w of which) {
  if (w === 'auth') await benchAuth();
  else if (w === 'throughput') await benchThroughput();
  else if (w === 'share') await benchShare();
  else console.error(`unknown benchmark ${w}`);
}
