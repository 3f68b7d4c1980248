import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { createEnrollment } from '@agent-runner/core/identity';
import { respawnLine, sandbox } from './fixtures/harness.js';
import { until } from '@agent-runner/testkit/until';

// An enrollment naming a live process that is NOT the unit (pid reused by an unrelated
// process): the watchdog must never signal it, only respawn.
for (const variant of ['another starttime', 'another comm'] as const) {
  t.test(`enrollment pointing at an unrelated live process (${variant}) is never signalled`, async (t) => {
    const sb = sandbox((s) =>
      [
        'interval_s = 0.2',
        'tier_cooldown_s = 4',
        'term_grace_s = 0.5',
        'verify_window_s = 1',
        'startup_grace_s = 0.5',
        'stale_after_s.bridge = 1',
        respawnLine(s, 'bridge'),
      ].join('\n'),
    );
    t.teardown(() => sb.cleanup());
    const bystander = spawn('sleep', ['60'], { stdio: 'ignore' });
    sb.children.push(bystander);
    await new Promise((r) => bystander.once('spawn', r));
    const real = createEnrollment('bridge', bystander.pid!, { version: '0.1.0', project: 'wdt', nowMs: Date.now() - 10_000 });
    const rec = variant === 'another starttime' ? { ...real, starttime_ticks: real.starttime_ticks - 1 } : { ...real, comm: 'node' };
    mkdirSync(join(sb.stateDir, 'run'), { recursive: true, mode: 0o700 });
    writeFileSync(join(sb.stateDir, 'run', 'enroll-bridge.json'), JSON.stringify(rec));
    sb.watchdog();
    await until('T3 verified', () => sb.events(['heal_verified']).find((e) => e['tier'] === 3), 20_000);
    t.equal(bystander.exitCode, null, 'bystander still running');
    t.equal(bystander.signalCode, null, 'bystander never signalled');
    const actions = sb.events(['heal_action']);
    t.same(
      actions.map((e) => [e['tier'], e['pid']]),
      [[3, null]],
      'straight to respawn, no pid signalled',
    );
    t.match(String(sb.events(['heal_verdict_changed']).find((e) => e['to'] === 'unhealthy')?.['reason']), /identity recycled/);
    t.ok(sb.enrollment('bridge')!.pid !== bystander.pid, 'respawned unit enrolled');
  });
}
