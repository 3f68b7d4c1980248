// probeUnit on real processes: a stopped process with a stale heartbeat is `process_stopped`
// (it can consume neither a marker nor SIGTERM), a running one only `heartbeat_stale`.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { probeUnit } from '../src/health.js';
import { createEnrollment, writeEnrollment } from '../src/identity.js';
import { writeHeartbeat } from '../src/markers.js';
import { projectPaths } from '../src/paths.js';

t.test('a SIGSTOPped unit with a stale heartbeat is process_stopped; resumed, only stale', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ar-health-'));
  const child = spawn('sleep', ['60'], { stdio: 'ignore' });
  t.teardown(() => {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });
  await new Promise((r) => child.once('spawn', r));
  const paths = projectPaths('p', join(dir, 'state'), join(dir, 'state', 'logs'));
  const now = Date.now();
  const rec = createEnrollment('bridge', child.pid!, { version: '1.0.0', project: 'p', nowMs: now - 10_000 });
  writeEnrollment(paths, rec);
  writeHeartbeat(paths, 'bridge', { nowMs: now - 5_000, pid: child.pid!, nonce: rec.nonce });
  const probe = () => probeUnit(paths, 'bridge', { expected: true, staleAfterMs: 1_000, nowMs: Date.now(), installedVersion: '1.0.0' });
  t.same(probe().reasons, ['heartbeat_stale'], 'running: stale');
  child.kill('SIGSTOP');
  // The state letter changes when the kernel delivers the stop: wait for it.
  for (let i = 0; i < 100 && !probe().reasons.includes('process_stopped'); i++) await new Promise((r) => setTimeout(r, 20));
  const j = probe();
  t.same([j.verdict, j.reasons, j.signature], ['unhealthy', ['heartbeat_stale', 'process_stopped'], 'heartbeat_stale+process_stopped']);
  t.match(j.evidence.at(-1), new RegExp(`process ${child.pid} is stopped \\(state T\\)`));
  child.kill('SIGCONT');
  for (let i = 0; i < 100 && probe().reasons.includes('process_stopped'); i++) await new Promise((r) => setTimeout(r, 20));
  t.same(probe().reasons, ['heartbeat_stale'], 'resumed: stale only');
});
