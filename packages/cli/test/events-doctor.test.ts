import t from 'tap';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { EventWriter } from '@agent-runner/core/events';
import { CLI_BIN, runCli, tempProject } from '@agent-runner/testkit/project';

const CONFIG = '[agent]\ncommand = ["sh"]\n[prompt]\nfile = "PROMPT.md"\n[runtime]\nstate_dir = ".state"\n';

function project() {
  const p = tempProject('ev', { 'PROMPT.md': 'x', 'agent-runner.toml': CONFIG });
  const dir = join(p.dir, '.state', 'logs', 'events');
  return { p, dir };
}

t.test('events: --kind, --round, --limit, --since, --json', async (t) => {
  const { p, dir } = project();
  t.teardown(p.cleanup);
  let now = Date.now() - 3 * 3_600_000;
  const w = new EventWriter({ dir, project: 'ev', unit: 'runner', now: () => now });
  for (let round = 1; round <= 6; round++) {
    now += 30 * 60_000;
    w.emit('round_start', { phase: 'default', prompt_bytes: 10, log_file: `/l/R${round}.log` }, { round });
    w.emit('round_end', { phase: 'default', exit_code: 0, signal: null, duration_s: 1, classification: round === 4 ? 'crash' : 'ok', output_bytes: 3, usage: null, cost_usd: null, evidence: [] }, { round });
  }
  w.close();
  const run = (...a: string[]) => runCli(['events', ...a], { cwd: p.dir, env: p.env });
  const all = await run('--json');
  t.equal(all.stdout.trim().split('\n').length, 12);
  const ends = await run('--kind', 'round_end', '--json', '--limit', '2');
  t.same(ends.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { round: number }).round), [5, 6], 'the newest N, oldest first');
  const r4 = await run('--round', '4', '--json');
  t.same(r4.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { kind: string }).kind), ['round_start', 'round_end']);
  const since = await run('--since', '45m', '--json');
  t.same(since.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { round: number }).round), [5, 5, 6, 6]);
  const human = await run('--kind', 'round_end', '--round', '4');
  t.match(human.stdout, /runner +round_end {2}round=4 {2}phase=default {2}exit_code=0 .*classification=crash/);
  const bad = await run('--since', 'yesterday');
  t.equal(bad.code, 64);
  t.match(bad.stderr, /neither a duration nor an ISO time/);
});

t.test('events --follow prints new events as they are written, then stops on SIGTERM', async (t) => {
  const { p, dir } = project();
  t.teardown(p.cleanup);
  const child = spawn(process.execPath, [CLI_BIN, 'events', '--follow', '--json'], { cwd: p.dir, env: p.env });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  // The follower starts at "now", whenever its process gets there: keep appending numbered
  // events until it has printed a few, then check it printed a gap-free run of them.
  const w = new EventWriter({ dir, project: 'ev', unit: 'runner' });
  const lines = (): string[] => out.trim().split('\n').filter(Boolean);
  const end = Date.now() + 30_000;
  for (let i = 1; lines().length < 3 && Date.now() < end; i++) {
    w.emit('max_rounds_reached', { max_rounds: i, rounds_run: i });
    await new Promise((r) => setTimeout(r, 150));
  }
  w.close();
  await new Promise((r) => setTimeout(r, 500));
  child.kill('SIGTERM');
  const code = await new Promise<number | null>((r) => child.on('close', r));
  t.equal(code, 0);
  const seen = out.trim().split('\n').map((l) => (JSON.parse(l) as { max_rounds: number }).max_rounds);
  t.ok(seen.length >= 3, `followed ${seen.length} events`);
  t.same(seen, seen.map((_, i) => (seen[0] as number) + i), 'each event exactly once, in order');
});

t.test('doctor: checks with fixes, --json, exit 1 on failure', async (t) => {
  const { p } = project();
  t.teardown(p.cleanup);
  const ok = await runCli(['doctor', '--json'], { cwd: p.dir, env: p.env });
  const res = JSON.parse(ok.stdout) as { ok: boolean; checks: Array<{ name: string; status: string }> };
  t.equal(ok.code, 0, ok.stdout);
  t.same(res.checks.map((c) => c.name), ['node', 'native:better-sqlite3', 'native:node-pty', 'config', 'agent', 'state_dir', 'log_dir', 'ledger', 'disk']);
  t.match(res.checks.find((c) => c.name === 'state_dir'), { status: 'warn' }, 'not created yet: a warning, not a failure');
  const broken = tempProject('bad', { 'PROMPT.md': 'x', 'agent-runner.toml': CONFIG.replace('["sh"]', '["no-such-agent-xyz"]') });
  t.teardown(broken.cleanup);
  const fail = await runCli(['doctor'], { cwd: broken.dir, env: broken.env });
  t.equal(fail.code, 1);
  t.match(fail.stdout, /fail {2}agent {16}agent executable not found on PATH: no-such-agent-xyz/);
  t.match(fail.stdout, /fix: Install no-such-agent-xyz/);
});
