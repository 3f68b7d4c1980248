// Full file systems, real ones: 80 MiB tmpfs mounts in a private mount namespace over the state
// directory and its run directory (markers, heartbeats). A stale heartbeat on a full disk is
// not the unit's fault, so nothing is acted on; the watchdog keeps running when even its
// ledger is full (failures logged once), and acts again once space is freed.
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { CLI_BIN, INSTALLED, sandbox, sleep, steps, TARGET, targetPids } from './fixtures/harness.js';
import { until } from '@agent-runner/testkit/until';

t.test('full disks: no action, the watchdog lives, and acts again after space is freed', async (t) => {
  const COOLDOWN_S = 3;
  const sb = sandbox(
    ['interval_s = 0.2', `tier_cooldown_s = ${COOLDOWN_S}`, 'term_grace_s = 0.5', 'startup_grace_s = 5', 'stale_after_s.bridge = 1.5'].join(
      '\n',
    ),
    ['bridge'],
    { logsOutsideState: true },
  );
  t.teardown(() => sb.cleanup());
  // Both processes run inside the namespace that sees the mounts; the test looks in through
  // /proc/<watchdog>/root. As root a mount namespace is enough, else a user namespace maps us.
  const ns = process.getuid?.() === 0 ? ['-m'] : ['-r', '-m'];
  const script = [
    'mount -t tmpfs -o size=80m,mode=0700 tmpfs "$1" && mkdir -m 0700 "$1/run" && mount -t tmpfs -o size=80m,mode=0700 tmpfs "$1/run" || exit 1',
    '"$2" "$3" "$1" bridge "$4" normal >/dev/null &',
    'exec "$2" "$5" watchdog --config "$6"',
  ].join('\n');
  const wd = spawn(
    'unshare',
    [...ns, '--propagation', 'private', 'sh', '-c', script, 'sh', sb.stateDir, process.execPath, TARGET, INSTALLED, CLI_BIN, sb.config],
    { env: sb.env, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  sb.children.push(wd);
  let err = '';
  wd.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  const inside = (...p: string[]): string => join(`/proc/${wd.pid}/root`, sb.stateDir, ...p);
  const fill = (p: string): void => {
    const fd = openSync(p, 'w');
    const mib = Buffer.alloc(1 << 20);
    try {
      for (;;) writeSync(fd, mib);
    } catch (e) {
      t.equal((e as NodeJS.ErrnoException).code, 'ENOSPC', `${p.slice(p.indexOf(sb.stateDir))} is full`);
    } finally {
      closeSync(fd);
    }
  };
  await until('healthy', () => sb.events(['heal_verdict_changed']).some((e) => e['to'] === 'healthy'), 20_000);
  const [target] = targetPids(sb, 'bridge');
  t.ok(target, 'the bridge fixture runs');

  // The ledger's file system full: no heal can be recorded, so none is taken.
  fill(inside('fill'));
  // At the periodic ledger refresh of a healthy unit (every 20 probes, 4 s).
  await until('told', () => /probe failed: bridge: the state file system is full; probing on/.test(err), 10_000);
  t.pass('told');
  process.kill(target!, 'SIGUSR2'); // heartbeats stop: stale, unhealthy
  await sleep(4000);
  t.equal(wd.exitCode, null, 'the watchdog is alive');
  t.ok(existsSync(`/proc/${target}`), 'the bridge is alive');
  t.same(sb.events(['heal_action']), [], 'no heal action');
  t.notOk(existsSync(inside('run', 'restart-bridge.json')), 'no marker written');
  t.equal(err.match(/probe failed/g)?.length, 1, 'told once');
  rmSync(inside('fill'));
  await until('probes work again', () => /probes work again/.test(err), 10_000);
  await until(
    'healed once the heal can be recorded',
    () => steps(sb).includes('T1 succeeded') && sb.events(['heal_verdict_changed']).at(-1)?.['to'] === 'healthy',
    20_000,
  );
  t.same(steps(sb), ['T1 restart_marker', 'T0 respawn', 'T1 succeeded'], 'T1, consumed (exit 75), respawned');

  // The markers' file system full, the ledger fine: a stale heartbeat is not the unit's fault.
  const before = sb.events(['heal_action']).length;
  fill(inside('run', 'fill'));
  const unknown = await until(
    'judged unknown',
    () => sb.events(['heal_verdict_changed']).at(-1)?.['to'] === 'unknown' && sb.events(['heal_verdict_changed']).at(-1),
    10_000,
  );
  t.match(String(unknown['reason']), /heartbeat .* old .*run is full \(\d+ MiB free\): the heartbeat could not be written/, 'said why');
  // A heal, were it taken, would come at the probe that judged it, or at the first one once the
  // cooldown since the last action (the T0 respawn above) is over: 5 probes (1 s) past both.
  const cooled = Date.parse(String(sb.events(['heal_action']).at(-1)?.['ts'])) + COOLDOWN_S * 1000;
  await sleep(Math.max(cooled, Date.now()) + 1000 - Date.now());
  t.equal(sb.events(['heal_action']).length, before, 'no heal action');
  rmSync(inside('run', 'fill'));
  // A heartbeat not written yet since the disk filled reads as never (0).
  const beat = (unit: string): number => {
    try {
      return JSON.parse(readFileSync(inside('run', `heartbeat-${unit}.json`), 'utf8')).written_at_ms;
    } catch {
      return 0;
    }
  };
  await until('heartbeats written again', () => Date.now() - beat('watchdog') < 1000 && Date.now() - beat('bridge') < 1000, 10_000);
  await until('healthy again', () => sb.events(['heal_verdict_changed']).at(-1)?.['to'] === 'healthy', 10_000);
  t.equal(sb.events(['heal_action']).length, before, 'still no heal action');
});
