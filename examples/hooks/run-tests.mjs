#!/usr/bin/env node
// run-tests: a post_round hook that runs the project's tests after each round and hands the
// result to the next round's agent (and to the next hooks) as the context field `tests`.
//
//   [hooks.run-tests]
//   on = "post_round"
//   command = ["./hooks/run-tests.mjs"]
//   timeout_s = 660            # above TEST_TIMEOUT_S, so the hook reports a timeout itself
//
//   [runtime]
//   context = "prepend"        # or "file": the agent sees hook context in its context block
//
//   TEST_COMMAND   shell command (default `npm test --silent`), run in the work dir
//   TEST_TIMEOUT_S time limit (default 600); then its process group gets SIGTERM, SIGKILL 5 s later
//
// Answers {"context": {"tests": {"passed": N, "failed": N, "exit_code": N, "tail": "..."}}}:
// the counts parsed best-effort from TAP, node --test, tap, jest, vitest, mocha, pytest or cargo
// summaries (null when no summary was recognised), the command's exit code (124 when the time
// limit killed it, as timeout(1); 128+N for signal N) and its last 20 lines. Failing tests are
// the answer, not a failure of the hook: it exits 0 unless it cannot run the command at all.
import { spawn } from 'node:child_process';
import { constants } from 'node:os';

const command = process.env.TEST_COMMAND || 'npm test --silent';
const limitS = Number(process.env.TEST_TIMEOUT_S || 600);
const KEEP = 64 * 1024;

for await (const _ of process.stdin); // the input is not needed

let output = '';
const keep = (d) => (output = (output + d).slice(-KEEP));
const child = spawn('/bin/sh', ['-c', command], { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
child.stdout.setEncoding('utf8').on('data', keep);
child.stderr.setEncoding('utf8').on('data', keep);
let timedOut = false;
const group = (sig) => {
  try {
    process.kill(-child.pid, sig);
  } catch {
    // already gone
  }
};
// The tests run in their own process group (so the time limit ends all of it); if the hook
// itself is stopped (its own timeout_s, serve shutting down), that group goes with it.
for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => {
    group('SIGKILL');
    process.exit(128 + constants.signals[sig]);
  });
}
const timer = setTimeout(() => {
  timedOut = true;
  group('SIGTERM');
  setTimeout(() => group('SIGKILL'), 5000).unref();
}, limitS * 1000);
const [code, signal] = await new Promise((resolve, reject) => {
  child.on('error', reject);
  child.on('close', (c, s) => resolve([c, s]));
}).catch((e) => {
  console.error(`run-tests: cannot run ${command}: ${e.message}`);
  process.exit(1);
});
clearTimeout(timer);
group('SIGKILL'); // whatever the tests left running in their group

const exitCode = timedOut ? 124 : (code ?? 128 + (constants.signals[signal] ?? 0));
const text = output.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '');
const { passed, failed } = counts(text);
const tail = text.replace(/\s+$/, '').split('\n').slice(-20).join('\n').slice(-2000);
console.error(
  `run-tests: ${command}: exit ${exitCode}${timedOut ? ` (killed after ${limitS} s)` : ''}, passed ${passed ?? '?'}, failed ${failed ?? '?'}`,
);
console.log(
  JSON.stringify({ context: { tests: { passed, failed, exit_code: exitCode, ...(timedOut ? { timed_out: true } : {}), tail } } }),
);

/** Pass and fail counts from the last summary line a known runner prints, else from TAP lines. */
function counts(s) {
  const last = (re) => {
    let n = null;
    for (const m of s.matchAll(re)) n = Number(m[1]);
    return n;
  };
  // tap 18+: `# { total: 12, pass: 11, fail: 1 }` (fail omitted when 0)
  const tapSummary = [...s.matchAll(/^#\s*\{\s*total:\s*\d+([^}]*)\}/gm)].pop();
  if (tapSummary) {
    const body = tapSummary[1];
    return { passed: Number(/pass:\s*(\d+)/.exec(body)?.[1] ?? 0), failed: Number(/fail:\s*(\d+)/.exec(body)?.[1] ?? 0) };
  }
  // node --test (TAP reporter `# pass 3`, spec reporter `ℹ pass 3`)
  const pass = last(/^\s*(?:#|ℹ)\s*pass\s+(\d+)\s*$/gm);
  const fail = last(/^\s*(?:#|ℹ)\s*fail\s+(\d+)\s*$/gm);
  if (pass !== null || fail !== null) return { passed: pass ?? 0, failed: fail ?? 0 };
  // jest `Tests: 1 failed, 3 passed, 4 total`, vitest `1 failed | 3 passed`, pytest `3 passed, 1 failed`,
  // mocha `3 passing` / `1 failing`, cargo `3 passed; 1 failed`
  const p = last(/\b(\d+)\s+(?:passed|passing)\b/g);
  const f = last(/\b(\d+)\s+(?:failed|failing)\b/g);
  if (p !== null || f !== null) return { passed: p ?? 0, failed: f ?? 0 };
  // plain TAP: count the top-level test points
  const ok = [...s.matchAll(/^ok \d+/gm)].length;
  const notOk = [...s.matchAll(/^not ok \d+/gm)].length;
  if (ok + notOk > 0) return { passed: ok, failed: notOk };
  return { passed: null, failed: null };
}
