/**
 * Round-history detectors on scenarios produced by the real runner (`serve` on fake agents):
 * each fires on its scenario, and a healthy run raises nothing.
 */
import t from 'tap';
import { writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { lastEvents } from '@agent-runner/core/events';
import { until } from '@agent-runner/testkit/until';
import { ROUND_DETECTORS, scenario, watch } from './fixtures/scenario.js';

t.test('healthy run: an agent that reports a result and commits raises nothing', async (t) => {
  const p = scenario(
    'echo "x$AGENT_RUNNER_ROUND" >> work.txt\ngit add work.txt && git commit -q -m "round $AGENT_RUNNER_ROUND"\necho RESULT done',
  );
  t.teardown(p.cleanup);
  const r = await p.serve(['--max-rounds', '4']);
  t.equal(r.code, 0, r.stderr);
  // Tight thresholds everywhere the healthy run could trip them.
  const w = watch(p, { silence_after_s: 1, cost_budget_usd: 0.01, supervisor_stale_threshold_s: 1 });
  t.teardown(w.close);
  await new Promise((res) => setTimeout(res, 1100));
  const fired = await w.poll();
  t.same(
    fired.filter((d) => ROUND_DETECTORS.includes(d)),
    [],
    'no round detector fires',
  );
  const snap = w.poller.snapshot;
  t.equal(snap?.rounds.length, 4);
  t.ok(snap?.system.disk && snap.system.memory, 'disk (statfs) and memory (systeminformation) read');
  const expectDisk = (snap?.system.disk?.used_pct ?? 0) >= 90;
  t.equal(fired.includes('disk_warning') || fired.includes('disk_critical'), expectDisk, 'disk detectors follow the real disk');
  t.same(
    w.ledger.monitor.activeAlerts().filter((a) => ROUND_DETECTORS.includes(a.detector)),
    [],
  );
  t.equal(w.poller.window.rounds.length, 4);
  t.ok(w.poller.window.rounds.every((x) => x.productive));
});

t.test('timeout_rate: rounds killed at round_timeout_s', async (t) => {
  const p = scenario('echo started\nsleep 30', 'round_timeout_s = 1');
  t.teardown(p.cleanup);
  const r = await p.serve(['--max-rounds', '3']);
  t.equal(r.code, 0, r.stderr);
  const w = watch(p);
  t.teardown(w.close);
  const fired = await w.poll();
  t.ok(fired.includes('timeout_rate'), `fired: ${fired.join(',')}`);
  t.match(
    w.poller.findings.find((f) => f.detector === 'timeout_rate'),
    { severity: 'warning', policy: 'notify', message: /3\/3 recent rounds timed out or hung/ },
  );
  t.notOk(fired.includes('hung'), 'the runner enforced its ceiling: not hung');
});

t.test('silence alarm: an agent that exits 0 doing nothing gives exactly one alarm; a productive round one recovery', async (t) => {
  const p = scenario('sleep 1\nif [ -f "$HOME/work" ]; then echo RESULT did the step; else echo thinking...; fi\nexit 0');
  t.teardown(p.cleanup);
  const s = p.start();
  t.teardown(() => s.child.kill('SIGKILL'));
  const ev = join(p.stateDir, 'logs', 'events');
  await until('round_end', () => lastEvents(ev, { n: 1, kinds: ['round_end'] }).events.length > 0, 20_000);
  const w = watch(p, { silence_after_s: 2 });
  t.teardown(w.close);
  const silence = (): Array<Record<string, unknown>> =>
    w
      .outbox()
      .filter((r) => r.kind === 'silence')
      .map((r) => ({ ...r.payload, severity: r.severity, title: r.title, key: r.idempotency_key }));
  // Polled every 250 ms until 4 rounds ran and 8 polls saw the silence (it holds from
  // silence_after_s on): the alarm must be raised once whatever the number of polls.
  let saw = 0;
  await until(
    '4 rounds and 8 polls that saw the silence',
    async () => {
      await w.poll();
      if (w.poller.findings.some((f) => f.detector === 'silence')) saw += 1;
      return w.poller.window.rounds.length >= 4 && saw >= 8;
    },
    30_000,
    250,
  );
  t.ok(w.poller.window.rounds.length >= 4, `${w.poller.window.rounds.length} rounds ran, none productive`);
  t.ok(
    w.poller.findings.some((f) => f.detector === 'silence'),
    'shown among the findings (page, /metrics)',
  );
  const alarms = silence();
  t.equal(alarms.length, 1, 'exactly one alarm however many polls saw the silence');
  t.match(alarms[0], {
    phase: 'alarm',
    cause: 'silence',
    severity: 'error',
    title: new RegExp(`^proj@${hostname()}: no work done for \\d+ s$`),
  });
  t.match(
    w.ledger.monitor.activeAlerts({ raisedBy: 'monitor' }).find((a) => a.detector === 'silence'),
    { host: hostname(), project: 'proj' },
  );
  writeFileSync(join(p.home, 'work'), '');
  for (let i = 0; i < 80 && w.poller.window.lastProductiveRound === undefined; i++) {
    await new Promise((r) => setTimeout(r, 250));
    await w.poll();
  }
  const after = silence();
  t.equal(after.length, 2, 'one recovery');
  t.match(after[1], {
    phase: 'recovery',
    reply_to: alarms[0]?.['key'],
    severity: 'error',
    title: new RegExp(`^proj@${hostname()}: resolved: round \\d+ did work again$`),
  });
  t.notOk(
    w.poller.findings.some((f) => f.detector === 'silence'),
    'cleared',
  );
  for (let i = 0; i < 3; i++) await w.poll();
  t.equal(silence().length, 2, 'nothing more while rounds are productive');
  s.child.kill('SIGTERM');
  t.equal(await s.exited, 0);
});

t.test('orphan_chain: every round leaves work that the runner stashes', async (t) => {
  const p = scenario('echo "draft $AGENT_RUNNER_ROUND" >> notes.txt\necho RESULT drafted');
  t.teardown(p.cleanup);
  const r = await p.serve(['--max-rounds', '3']);
  t.equal(r.code, 0, r.stderr);
  const w = watch(p);
  t.teardown(w.close);
  const fired = await w.poll();
  t.ok(fired.includes('orphan_chain'), `fired: ${fired.join(',')}`);
  const f = w.poller.findings.find((x) => x.detector === 'orphan_chain');
  t.equal((f?.evidence['stashes'] as string[]).length, 3, 'the three stash SHAs are the evidence');
});
