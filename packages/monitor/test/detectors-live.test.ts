/**
 * Detectors of a live host: a rate-limit back-off in force (benign: recorded, not notified),
 * a broken heal circuit, disk (one statfs figure for peek, doctor, detectors and /metrics;
 * auto-stop of a runner that runs rounds, none of one that holds them for the disk) and
 * memory — each on the real runner's files, each quiet once the condition is gone.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { configPaths } from '@agent-runner/core/config';
import { tightestDisk } from '@agent-runner/core/disk';
import { EventWriter, lastEvents } from '@agent-runner/core/events';
import { createEnrollment, readBootId, writeEnrollment } from '@agent-runner/core/identity';
import { writeHeartbeat } from '@agent-runner/core/markers';
import { runCli } from '@agent-runner/testkit/project';
import { renderMetrics } from '../src/metrics.js';
import { until } from '@agent-runner/testkit/until';
import { scenario, watch } from './fixtures/scenario.js';

const eventsOf = (stateDir: string, kind: string): number =>
  lastEvents(join(stateDir, 'logs', 'events'), { n: 5, kinds: [kind] }).events.length;

t.test('rate_limit_active: while the runner backs off a rate limit; cleared once it stopped', async (t) => {
  const p = scenario('echo "RATE LIMITED: try again later"\nexit 1', '', '', 'generic', 30);
  t.teardown(p.cleanup);
  const s = p.start();
  t.teardown(() => s.child.kill('SIGKILL'));
  await until('backoff_started', () => eventsOf(p.stateDir, 'backoff_started') > 0, 20_000);
  const w = watch(p);
  t.teardown(w.close);
  const fired = await w.poll();
  t.ok(fired.includes('rate_limit_active'), `fired: ${fired.join(',')}`);
  t.notOk(fired.includes('supervisor_stale'), 'a back-off is not staleness');
  t.match(
    w.ledger.monitor.activeAlerts({ raisedBy: 'monitor' }).find((a) => a.detector === 'rate_limit_active'),
    { evidence: { notified: false } },
    'recorded',
  );
  t.same(w.outbox(), [], 'a self-healing wait notifies nobody');
  // With notify_benign, a monitor that adopts the alert notifies it, once.
  const loud = watch(p, { notify_benign: true });
  t.teardown(loud.close);
  await loud.poll();
  await loud.poll();
  t.same(
    loud.outbox().map((o) => `${o.kind}:${String(o.payload['phase'])}`),
    ['rate_limit_active:alarm'],
  );
  s.child.kill('SIGTERM');
  t.equal(await s.exited, 0);
  t.notOk((await w.poll()).includes('rate_limit_active'), 'cleared after the runner stopped');
  t.match(JSON.parse(w.lines.at(-1) as string), { type: 'alert', state: 'cleared', detector: 'rate_limit_active' });
});

t.test('heal_circuit_broken: the watchdog opened a breaker (ledger state and heal_action event)', async (t) => {
  const p = scenario('echo RESULT ok');
  t.teardown(p.cleanup);
  t.equal((await p.serve(['--max-rounds', '1'])).code, 0);
  const w = watch(p);
  t.teardown(w.close);
  t.notOk((await w.poll()).includes('heal_circuit_broken'));
  // What the watchdog writes at T4, through the same core APIs.
  w.ledger.watchdog.putHealState({ target: 'bridge', tier: 4, breaker: 'open', consecutiveFailures: 3, bootId: readBootId() });
  const ev = new EventWriter({ dir: configPaths(p.config()).eventsDir, project: 'proj', unit: 'watchdog' });
  ev.emit('heal_action', { target: 'runner', tier: 4, action: 'circuit_break', reason: 'heartbeat_stale', pid: null });
  ev.close();
  const fired = await w.poll();
  t.ok(fired.includes('heal_circuit_broken'), `fired: ${fired.join(',')}`);
  t.same(
    new Set(w.poller.findings.find((f) => f.detector === 'heal_circuit_broken')?.evidence['targets'] as string[]),
    new Set(['bridge', 'runner']),
  );
});

t.test('disk: one statfs figure for peek, doctor, the detectors and /metrics', async (t) => {
  const p = scenario('echo RESULT ok');
  t.teardown(p.cleanup);
  t.equal((await p.serve(['--max-rounds', '1'])).code, 0);
  const w = watch(p);
  t.teardown(w.close);
  await w.poll();
  const disk = w.poller.snapshot?.system.disk;
  const paths = configPaths(p.config());
  const core = tightestDisk([paths.stateDir, paths.logDir]);
  t.ok(disk && core && disk.used_pct > 0 && disk.used_pct < 100, `disk ${JSON.stringify(disk)}`);
  // The real disk is shared and moves between two readings: same file system, same figure
  // within 0.5 points (the old sources differed by 70: systeminformation named another mount).
  const near = (pct: number | undefined): boolean => pct !== undefined && Math.abs(pct - (disk?.used_pct ?? NaN)) <= 0.5;
  t.equal(disk?.path, core?.path, 'the monitor reads core/disk');
  t.ok(near(core?.used_pct));
  const peek = JSON.parse((await runCli(['peek', '--json'], { cwd: p.dir, env: p.env })).stdout) as {
    system: { disk: { path: string; used_pct: number } };
  };
  t.equal(peek.system.disk.path, disk?.path, 'peek measures the same directory');
  t.ok(near(peek.system.disk.used_pct), `peek ${peek.system.disk.used_pct}%, monitor ${disk?.used_pct}%`);
  const doctor = JSON.parse((await runCli(['doctor', '--json'], { cwd: p.dir, env: p.env })).stdout) as {
    checks: Array<{ name: string; detail: string }>;
  };
  const m = /\(([\d.]+)% used\) at (.+)$/.exec(doctor.checks.find((c) => c.name === 'disk')?.detail ?? '');
  t.equal(m?.[2], disk?.path, 'doctor measures the same directory');
  t.ok(near(Number(m?.[1])), `doctor ${m?.[1]}%, monitor ${disk?.used_pct}%`);
  t.match(
    renderMetrics([w.poller], Date.now()).prometheus,
    `agent_runner_disk_used_ratio{host="local",project="proj"} ${(disk?.used_pct ?? 0) / 100}\n`,
    "/metrics renders the snapshot's figure",
  );
});

t.test('disk_critical: stops a runner that runs rounds; leaves alone one that holds rounds for the disk', async (t) => {
  // Its own disk gate off: nothing else keeps it from starting a round on a full disk.
  const p = scenario('sleep 1\necho RESULT ok', 'disk_min_free_mb = 0');
  t.teardown(p.cleanup);
  const s = p.start();
  t.teardown(() => s.child.kill('SIGKILL'));
  await until('round_start', () => eventsOf(p.stateDir, 'round_start') > 0, 20_000);
  const w = watch(p);
  t.teardown(w.close);
  await w.poll();
  const used = w.poller.snapshot?.system.disk?.used_pct ?? 0;
  // Thresholds placed around the real reading.
  Object.assign(w.settings, { disk_warning_pct: Math.max(0, used - 1), disk_critical_pct: Math.min(100, used + 1) });
  t.same(
    (await w.poll()).filter((d) => d.startsWith('disk')),
    ['disk_warning'],
  );
  t.equal(s.child.exitCode, null, 'a warning stops nothing');
  Object.assign(w.settings, { disk_critical_pct: Math.max(0, used - 0.5) });
  t.same(
    (await w.poll()).filter((d) => d.startsWith('disk')),
    ['disk_critical'],
    'critical replaces warning',
  );
  t.equal(await s.exited, 0, 'the runner (running rounds, unprotected) was stopped cleanly');
  const lines = w.lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  t.match(
    lines.find((l) => l['type'] === 'auto_stop'),
    { detector: 'disk_critical', result: 'stopped' },
  );
  t.match(
    w.outbox().find((o) => o.kind === 'monitor_auto_stop'),
    { severity: 'critical', title: /: runner stopped by the monitor \(disk_critical\)$/, body: /Then: agent-runner start$/ },
  );
  Object.assign(w.settings, { disk_warning_pct: 100, disk_critical_pct: 100 });
  await w.poll();

  // What serve writes while it holds rounds for a full disk (enrollment + heartbeat with
  // pause "disk"), written for a real live process through the same core APIs.
  const paused = spawn('sleep', ['60'], { stdio: 'ignore' });
  t.teardown(() => paused.kill('SIGKILL'));
  const paths = configPaths(p.config());
  const rec = createEnrollment('runner', paused.pid as number, { version: '0.0.0', project: 'proj', nowMs: Date.now() });
  writeEnrollment(paths, rec);
  writeHeartbeat(paths, 'runner', { nowMs: Date.now(), pid: rec.pid, nonce: rec.nonce, state: 'paused', detail: { pause: 'disk' } });
  Object.assign(w.settings, { disk_critical_pct: Math.max(0, used - 0.5) });
  for (let i = 0; i < 3; i++) t.ok((await w.poll()).includes('disk_critical'));
  t.equal(w.poller.snapshot?.service.pause, 'disk', 'peek-equivalent pause from the heartbeat');
  t.equal(paused.exitCode, null, 'not signalled');
  t.equal(paused.signalCode, null);
  const skipped = w.lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l['type'] === 'auto_stop_skipped');
  t.match(skipped, [{ detector: 'disk_critical', pause: 'disk' }], 'reported once');
  t.equal(w.outbox().filter((o) => o.kind === 'monitor_auto_stop').length, 1, 'only the first runner was stopped');
});

t.test(
  'disk_critical: a runner with its own disk gate is never stopped (on a full disk its heartbeat cannot say it paused); above its gate the monitor tells',
  async (t) => {
    const p = scenario('sleep 1\necho RESULT ok');
    t.teardown(p.cleanup);
    const s = p.start();
    t.teardown(() => s.child.kill('SIGKILL'));
    await until('round_start', () => eventsOf(p.stateDir, 'round_start') > 0, 20_000);
    const w = watch(p);
    t.teardown(w.close);
    await w.poll();
    Object.assign(w.settings, { disk_critical_pct: Math.max(0, (w.poller.snapshot?.system.disk?.used_pct ?? 0) - 0.5) });
    for (let i = 0; i < 3; i++) t.ok((await w.poll()).includes('disk_critical'));
    t.equal(s.child.exitCode, null, 'still running');
    const skipped = w.lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l['type'] === 'auto_stop_skipped');
    t.match(skipped, [{ detector: 'disk_critical', pause: 'disk' }], 'held: the runner guards the disk itself');
    t.equal(w.outbox().filter((o) => o.kind === 'monitor_auto_stop').length, 0);
    const free = w.poller.snapshot?.system.disk?.free_bytes ?? 0;
    t.ok(free > 64 * 1048576, "more free than the runner's gate (64 MiB): the runner sees nothing wrong yet");
    t.equal(w.outbox().filter((o) => o.kind === 'disk_critical').length, 1, 'so the monitor tells, once');
  },
);

t.test("disk_critical below the runner's own gate: the runner owns it, even before its full ledger can take the alarm", async (t) => {
  // A gate above any real free space: the disk is "full" to the runner. What a running serve
  // writes (enrollment, heartbeat) for a live process, through the same core APIs, and no
  // alarm in the ledger: on a really full disk it could not be written yet.
  const p = scenario('echo RESULT ok', 'disk_min_free_mb = 1000000000');
  t.teardown(p.cleanup);
  const w = watch(p);
  t.teardown(w.close);
  const live = spawn('sleep', ['60'], { stdio: 'ignore' });
  t.teardown(() => live.kill('SIGKILL'));
  const paths = configPaths(p.config());
  const rec = createEnrollment('runner', live.pid as number, { version: '0.0.0', project: 'proj', nowMs: Date.now() });
  writeEnrollment(paths, rec);
  writeHeartbeat(paths, 'runner', { nowMs: Date.now(), pid: rec.pid, nonce: rec.nonce, state: 'running' });
  await w.poll();
  Object.assign(w.settings, { disk_critical_pct: Math.max(0, (w.poller.snapshot?.system.disk?.used_pct ?? 0) - 0.5) });
  for (let i = 0; i < 3; i++) t.ok((await w.poll()).includes('disk_critical'));
  t.equal(w.poller.snapshot?.service.state, 'running');
  t.equal(live.signalCode, null, 'not stopped');
  t.equal(
    w.outbox().filter((o) => o.kind.startsWith('disk')).length,
    0,
    'not notified: the runner tells it (disk_full) as soon as its ledger takes it',
  );
});

t.test('memory: real systeminformation reading against the threshold', async (t) => {
  const p = scenario('echo RESULT ok');
  t.teardown(p.cleanup);
  t.equal((await p.serve(['--max-rounds', '1'])).code, 0);
  const w = watch(p);
  t.teardown(w.close);
  await w.poll();
  const mem = w.poller.snapshot?.system.memory;
  t.ok(mem && mem.available_bytes > 0 && mem.available_bytes <= mem.total_bytes);
  const availPct = (100 * (mem?.available_bytes ?? 0)) / (mem?.total_bytes ?? 1);
  Object.assign(w.settings, { mem_available_min_pct: Math.min(100, availPct + 1) });
  t.ok((await w.poll()).includes('mem_pressure'));
  Object.assign(w.settings, { mem_available_min_pct: 0 });
  t.notOk((await w.poll()).includes('mem_pressure'), 'cleared');
  t.same(
    w.ledger.monitor
      .activeAlerts()
      .map((a) => a.detector)
      .filter((d) => d === 'mem_pressure'),
    [],
  );
});
