/**
 * The monitor on a really full file system: the project's state directory (ledger, events,
 * heartbeats) is a 96 MiB tmpfs, filled to the last block while a real `agent-runner monitor`
 * polls it. It must not die of SQLITE_FULL or ENOSPC, `disk_critical` must fire, and its
 * alarm and recovery must reach the outbox (once each) after space is freed. Needs root
 * (mount). Expects the tree built.
 */
import t from 'tap';
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { configPaths } from '@agent-runner/core/config';
import { readHeartbeat } from '@agent-runner/core/markers';
import { CLI_BIN } from '@agent-runner/testkit/project';
import { until } from '@agent-runner/testkit/until';
import { readOutbox, scenario } from '../test/fixtures/scenario.js';

/** Writes zeros into `file` until the file system refuses (ENOSPC). */
function fill(file: string): void {
  const fd = openSync(file, 'w');
  const chunk = Buffer.alloc(1 << 20);
  try {
    for (let size = chunk.length; size >= 512;) {
      try {
        writeSync(fd, chunk, 0, size);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e;
        size >>= 1;
      }
    }
  } finally {
    closeSync(fd);
  }
}

t.test('a full state file system: the monitor keeps polling, disk_critical fires, nothing is lost', async (t) => {
  const p = scenario('echo RESULT ok', '', '[monitor]\npoll_interval_s = 1\n');
  t.teardown(p.cleanup);
  mkdirSync(p.stateDir, { recursive: true });
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=96m,mode=0700', 'tmpfs', p.stateDir]);
  t.teardown(() => execFileSync('umount', ['-l', p.stateDir]));
  t.equal((await p.serve(['--max-rounds', '1'])).code, 0, 'history on the tmpfs');
  const ledgerPath = join(p.stateDir, 'ledger.sqlite3');

  const m = spawn(process.execPath, [CLI_BIN, 'monitor', '--json'], { cwd: p.dir, env: p.env, stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => m.kill('SIGKILL'));
  let out = '';
  let err = '';
  m.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  m.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exited = new Promise<number | null>((r) => m.on('close', (c) => r(c)));
  const paths = configPaths(p.config());
  await until('the monitor to beat', () => readHeartbeat(paths, 'monitor', { nowMs: Date.now() }) !== undefined, 20_000);
  await new Promise((r) => setTimeout(r, 2500));
  t.notMatch(out, /disk_critical/, 'quiet before the disk fills');

  const filler = join(p.stateDir, 'filler');
  fill(filler);
  await until('disk_critical', () => out.includes('"detector":"disk_critical"'), 20_000);
  await new Promise((r) => setTimeout(r, 5000));
  t.equal(m.exitCode, null, 'alive after polls on a full disk');
  t.match(out, /"type":"alert","state":"raised","host":"local","project":"proj","detector":"disk_critical"/);
  t.match(
    err,
    /monitor: alert disk_critical not written \(the file system is full\); polling on/,
    'the ledger refused the alert (SQLITE_FULL): kept, logged once',
  );
  t.ok(err.split('\n').filter((l) => /monitor: heartbeat not written/.test(l)).length <= 1, 'the heartbeat failure is logged once');

  rmSync(filler);
  await until(
    'the disk_critical recovery',
    () => readOutbox(ledgerPath).some((o) => o.kind === 'disk_critical' && o.payload['phase'] === 'recovery'),
    20_000,
  );
  await new Promise((r) => setTimeout(r, 2500));
  const rows = readOutbox(ledgerPath).filter((o) => o.kind === 'disk_critical');
  t.same(
    rows.map((o) => o.payload['phase']),
    ['alarm', 'recovery'],
    'one alarm, one recovery: none lost while the disk was full',
  );
  t.match(rows[0], { severity: 'critical', title: /^proj@.+: disk 100% used at / });
  t.match(rows[1], { severity: 'critical', payload: { reply_to: rows[0]?.idempotency_key } });
  t.equal(m.exitCode, null, 'still alive after space is back');
  t.match(err, /the ledger takes writes again/, 'resumed by itself');
  m.kill('SIGTERM');
  t.equal(await exited, 0);
  const db = new Database(ledgerPath, { readonly: true });
  t.same(db.pragma('integrity_check', { simple: true }), 'ok', 'ledger integrity_check ok');
  db.close();
});
