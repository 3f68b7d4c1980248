/**
 * Detectors of a live host: a rate-limit back-off in force, a broken heal circuit, disk and
 * memory read through systeminformation — each on the real runner's files, each quiet once
 * the condition is gone.
 */
import t from 'tap';
import { join } from 'node:path';
import { configPaths } from '@agent-runner/core/config';
import { EventWriter, lastEvents } from '@agent-runner/core/events';
import { readBootId } from '@agent-runner/core/identity';
import { scenario, until, watch } from './scenario.js';

const eventsOf = (stateDir: string, kind: string): number => lastEvents(join(stateDir, 'logs', 'events'), { n: 5, kinds: [kind] }).events.length;

t.test('rate_limit_active: while the runner backs off a rate limit; cleared once it stopped', async (t) => {
  const p = scenario('echo "RATE LIMITED: try again later"\nexit 1', '', '', 'generic', 30);
  t.teardown(p.cleanup);
  const s = p.start();
  t.teardown(() => s.child.kill('SIGKILL'));
  await until(() => eventsOf(p.stateDir, 'backoff_started') > 0);
  const w = watch(p);
  t.teardown(w.close);
  const fired = await w.poll();
  t.ok(fired.includes('rate_limit_active'), `fired: ${fired.join(',')}`);
  t.notOk(fired.includes('supervisor_stale'), 'a back-off is not staleness');
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
  t.same(new Set(w.poller.findings.find((f) => f.detector === 'heal_circuit_broken')?.evidence['targets'] as string[]), new Set(['bridge', 'runner']));
});

t.test('disk and memory: real systeminformation readings against the thresholds', async (t) => {
  const p = scenario('echo RESULT ok');
  t.teardown(p.cleanup);
  t.equal((await p.serve(['--max-rounds', '1'])).code, 0);
  const w = watch(p);
  t.teardown(w.close);
  await w.poll();
  const disk = w.poller.snapshot?.system.disk;
  const mem = w.poller.snapshot?.system.memory;
  t.ok(disk && disk.used_pct > 0 && disk.used_pct < 100, `disk ${JSON.stringify(disk)}`);
  t.ok(mem && mem.available_bytes > 0 && mem.available_bytes <= mem.total_bytes);
  const used = disk?.used_pct ?? 0;
  // Thresholds placed around the real reading.
  Object.assign(w.settings, { disk_warning_pct: Math.max(0, used - 1), disk_critical_pct: Math.min(100, used + 1) });
  t.same((await w.poll()).filter((d) => d.startsWith('disk')), ['disk_warning']);
  Object.assign(w.settings, { disk_critical_pct: Math.max(0, used - 0.5) });
  const crit = await w.poll();
  t.same(crit.filter((d) => d.startsWith('disk')), ['disk_critical'], 'critical replaces warning');
  t.match(w.poller.findings.find((f) => f.detector === 'disk_critical'), { policy: 'auto-stop', severity: 'critical' });
  const stop = w.lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l['type'] === 'auto_stop');
  t.match(stop, { detector: 'disk_critical', result: 'not_running' }, 'auto-stop attempted; the runner was not running');
  const availPct = (100 * (mem?.available_bytes ?? 0)) / (mem?.total_bytes ?? 1);
  Object.assign(w.settings, { disk_warning_pct: 100, disk_critical_pct: 100, mem_available_min_pct: Math.min(100, availPct + 1) });
  const m = await w.poll();
  t.same(m.filter((d) => d.startsWith('disk') || d === 'mem_pressure'), ['mem_pressure']);
  Object.assign(w.settings, { mem_available_min_pct: 0 });
  t.same((await w.poll()).filter((d) => d.startsWith('disk') || d === 'mem_pressure'), [], 'all cleared');
  t.same(w.ledger.monitor.activeAlerts().map((a) => a.detector), []);
});
