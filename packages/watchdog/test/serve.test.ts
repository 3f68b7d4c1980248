// The real `agent-runner serve` (built CLI, a generic agent that is a shell script) under a
// foreground watchdog: a bounded run that ended (exit 0, max_rounds) and a serve that refused to
// start (exit 78, config_broken: its agent is missing) stay stopped; a SIGKILLed one comes back with its own command
// line, `--max-rounds` included (issue 12: the respawn used to drop it and ran 162 extra rounds).
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import t, { type Test } from 'tap';
import { lastEvents } from '@agent-runner/core/events';
import { CLI_BIN, tempProject } from '@agent-runner/testkit/project';
import { until } from '@agent-runner/testkit/until';
import { sleep } from './fixtures/harness.js';

// Each subtest has a sandbox of its own and mostly waits on its timers: run them side by side.
t.jobs = 2;

/** @param graceS `[watchdog] startup_grace_s`: from the watchdog's start and from each respawn. */
function project(t: Test, agent: string, graceS = 10) {
  const p = tempProject('proj', {
    'agent.sh': `#!/bin/sh\n${agent}\n`,
    'PROMPT.md': 'Do the next step.\n',
    '.gitignore': '/.state/\n',
    'agent-runner.toml': [
      '[agent]',
      'command = ["./agent.sh"]',
      'prompt_delivery = "stdin"',
      '[agent.patterns]',
      'result = ["^RESULT"]',
      '[prompt]',
      'file = "PROMPT.md"',
      '[runtime]',
      'state_dir = ".state"',
      'restart_delay_s = 0',
      'heartbeat_interval_s = 1',
      'kill_grace_s = 1',
      '[watchdog]',
      'targets = ["runner"]',
      'interval_s = 0.2',
      `startup_grace_s = ${graceS}`,
      'stale_after_s.runner = 5',
      'tier_cooldown_s = 3',
      'verify_window_s = 1',
      '',
    ].join('\n'),
  });
  const children: ChildProcess[] = [];
  const cli = (...args: string[]): ChildProcess => {
    const c = spawn(process.execPath, [CLI_BIN, ...args], { cwd: p.dir, env: p.env, stdio: ['ignore', 'ignore', 'pipe'] });
    c.stderr!.resume();
    children.push(c);
    return c;
  };
  const state = join(p.dir, '.state');
  const db = <T>(sql: string): T[] => {
    try {
      const d = new Database(join(state, 'ledger.sqlite3'), { readonly: true, fileMustExist: true });
      try {
        return d.prepare(sql).all() as T[];
      } finally {
        d.close();
      }
    } catch {
      return [];
    }
  };
  const enrollment = (unit = 'runner'): { pid: number; argv: string[]; cwd: string; started_at_ms: number } | undefined => {
    try {
      return JSON.parse(readFileSync(join(state, 'run', `enroll-${unit}.json`), 'utf8'));
    } catch {
      return undefined;
    }
  };
  t.teardown(() => {
    const e = enrollment();
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    if (e) {
      try {
        process.kill(e.pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    p.cleanup();
  });
  return { p, cli, db, enrollment, state };
}

const exitOf = (c: ChildProcess): Promise<number | null> =>
  c.exitCode !== null ? Promise.resolve(c.exitCode) : new Promise((r) => c.once('exit', (code) => r(code)));

t.test('serve --max-rounds 2 that ended, and serve exiting 78, stay stopped; a SIGKILLed serve comes back as it ran', async (t) => {
  // The grace covers the first serve, started with the watchdog. Within it a unit gone without
  // an enrollment is 'starting' whatever its exit record says: only the probes after it show that
  // the record is heeded, so the first check waits until it has run out, and 10 probes more.
  const GRACE_S = 5;
  const { p, cli, db, enrollment, state } = project(t, 'echo RESULT done', GRACE_S);
  const exitRecord = (): { exit_code: number; reason: string } => JSON.parse(readFileSync(join(state, 'run', 'exit-runner.json'), 'utf8'));
  const wd = cli('watchdog');
  const s1 = cli('serve', '--max-rounds', '2');
  t.equal(await exitOf(s1), 0, 'serve ran its 2 rounds and exited 0');
  t.same(exitRecord(), { ...exitRecord(), exit_code: 0, reason: 'max_rounds' }, 'and said so in its exit record');
  const started = (await until('watchdog enrolled', () => enrollment('watchdog'), 30_000)).started_at_ms;
  await sleep(Math.max(started + GRACE_S * 1000 + 2000 - Date.now(), 2000));
  t.same(db('SELECT count(*) AS n FROM rounds'), [{ n: 2 }], 'no extra round: not respawned');
  t.same(db('SELECT action FROM heal_actions'), [], 'no heal action');

  rmSync(join(p.dir, 'agent.sh'));
  const s2 = cli('serve');
  t.equal(await exitOf(s2), 78, 'serve refused to start: its agent is gone');
  t.same(exitRecord(), { ...exitRecord(), exit_code: 78, reason: 'config_broken' }, 'exit record config_broken');
  await sleep(2000); // 10 probes, past the grace
  t.same(db('SELECT action FROM heal_actions'), [], 'config broken: left stopped');

  // A long run this time; killed in its first round.
  p.write('agent.sh', '#!/bin/sh\nsleep 2\necho RESULT done\n', 0o755);
  const s3 = cli('serve', '--max-rounds', '40');
  const before = await until('serve enrolled', () => enrollment()?.pid === s3.pid && enrollment(), 30_000);
  s3.kill('SIGKILL');
  const after = await until(
    'respawned',
    () => {
      const e = enrollment();
      return e !== undefined && e.pid !== s3.pid && e;
    },
    30_000,
  );
  t.same(after.argv, before.argv, 'the same command line');
  t.same(after.argv.slice(-3), ['serve', '--max-rounds', '40'], '--max-rounds kept');
  t.equal(after.cwd, p.dir, 'the same working directory');
  t.same(readFileSync(`/proc/${after.pid}/cmdline`, 'utf8').split('\0').slice(0, -1), before.argv, 'and it runs it');
  t.same(
    db<{ action: string; reason: string }>("SELECT action, reason FROM heal_actions WHERE action = 'sigkill-respawn'"),
    [{ action: 'sigkill-respawn', reason: 'identity_gone' }],
    'one T3',
  );
  wd.kill('SIGTERM');
  t.equal(await exitOf(wd), 0);
});

t.test(
  'a respawned serve whose config broke meanwhile exits 78 before enrolling: left stopped, one config_broken alarm, no breaker',
  async (t) => {
    const graceS = 5;
    const { p, cli, db, enrollment, state } = project(t, 'sleep 2\necho RESULT done', graceS);
    const wd = cli('watchdog');
    const s = cli('serve');
    await until('serve enrolled', () => enrollment()?.pid === s.pid, 30_000);
    // The watchdog reads the same file: it must be up before the config breaks.
    // Two cold node starts on a loaded 2-core machine: more than the default 30 s.
    await until(
      'the watchdog judged serve healthy',
      () => lastEvents(join(state, 'logs', 'events'), { n: 50, kinds: ['heal_verdict_changed'] }).events.some((e) => e['to'] === 'healthy'),
      90_000,
    );
    p.write('agent-runner.toml', '[agent\n'); // broken while it runs
    s.kill('SIGKILL');
    const rec = await until(
      'the exit record the watchdog wrote for the respawned serve',
      () => {
        try {
          const r = JSON.parse(readFileSync(join(state, 'run', 'exit-runner.json'), 'utf8')) as {
            exit_code: number;
            reason: string;
            detail: string;
            pid: number;
          };
          return r.exit_code === 78 && r;
        } catch {
          return undefined;
        }
      },
      30_000,
    );
    t.equal(rec.reason, 'config_broken');
    t.match(rec.detail, /agent-runner\.toml:\d+/, 'the reason, from the respawn log');
    // Past the grace of the respawn and 10 probes more: the killed serve's enrollment is still
    // there, and the record (written after it started) must count as its newest process's.
    await sleep((graceS + 2) * 1000);
    const actions = db<{ action: string }>('SELECT action FROM heal_actions').map((r) => r.action);
    t.equal(
      actions.filter((a) => a === 'sigkill-respawn').length,
      1,
      `one T3 (the SIGKILL), no respawn after the 78: ${actions.join(', ')}`,
    );
    t.notOk(actions.includes('breaker-open'), 'no breaker');
    t.same(db("SELECT breaker FROM heal_state WHERE target = 'runner'"), [{ breaker: 'closed' }], 'breaker closed');
    const alarms = db<{ kind: string; title: string }>(
      "SELECT kind, title FROM outbox WHERE transport IS NULL AND json_extract(payload, '$.phase') = 'alarm'",
    );
    t.equal(alarms.length, 1, 'one alarm');
    t.match(alarms[0], { kind: 'config_broken', title: /not started: config broken/ });
    wd.kill('SIGTERM');
    t.equal(await exitOf(wd), 0);
  },
);
