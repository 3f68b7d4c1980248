import t, { type Test } from 'tap';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { Writable } from 'node:stream';
import { EventWriter } from '@agent-runner/core/events';
import { CLI_BIN, runCli, tempProject } from '@agent-runner/testkit/project';
import { docContext } from '../src/commands-doc.js';
import { doctor, renderChecks } from '../src/commands/doctor.js';

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
    w.emit(
      'round_end',
      {
        phase: 'default',
        exit_code: 0,
        signal: null,
        duration_s: 1,
        classification: round === 4 ? 'crash' : 'ok',
        output_bytes: 3,
        usage: null,
        cost_usd: null,
        evidence: [],
      },
      { round },
    );
  }
  w.close();
  const run = (...a: string[]) => runCli(['events', ...a], { cwd: p.dir, env: p.env });
  const all = await run('--json');
  t.equal(all.stdout.trim().split('\n').length, 12);
  const ends = await run('--kind', 'round_end', '--json', '--limit', '2');
  t.same(
    ends.stdout
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as { round: number }).round),
    [5, 6],
    'the newest N, oldest first',
  );
  const r4 = await run('--round', '4', '--json');
  t.same(
    r4.stdout
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as { kind: string }).kind),
    ['round_start', 'round_end'],
  );
  const since = await run('--since', '45m', '--json');
  t.same(
    since.stdout
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as { round: number }).round),
    [5, 5, 6, 6],
  );
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
  const seen = out
    .trim()
    .split('\n')
    .map((l) => (JSON.parse(l) as { max_rounds: number }).max_rounds);
  t.ok(seen.length >= 3, `followed ${seen.length} events`);
  t.same(
    seen,
    seen.map((_, i) => (seen[0] as number) + i),
    'each event exactly once, in order',
  );
});

t.test('doctor: checks with fixes, --json, exit 1 on failure', async (t) => {
  const { p } = project();
  t.teardown(p.cleanup);
  const ok = await runCli(['doctor', '--json'], { cwd: p.dir, env: p.env });
  const res = JSON.parse(ok.stdout) as { ok: boolean; checks: Array<{ name: string; status: string }> };
  t.equal(ok.code, 0, ok.stdout);
  t.same(
    res.checks.map((c) => c.name),
    ['node', 'native:better-sqlite3', 'native:node-pty', 'config', 'agent', 'state_dir', 'log_dir', 'ledger', 'disk'],
  );
  t.match(
    res.checks.find((c) => c.name === 'state_dir'),
    { status: 'warn' },
    'not created yet: a warning, not a failure',
  );
  const broken = tempProject('bad', { 'PROMPT.md': 'x', 'agent-runner.toml': CONFIG.replace('["sh"]', '["no-such-agent-xyz"]') });
  t.teardown(broken.cleanup);
  const fail = await runCli(['doctor'], { cwd: broken.dir, env: broken.env });
  t.equal(fail.code, 1);
  t.match(fail.stdout, /\nfail {2}agent +agent executable not found on PATH: no-such-agent-xyz\n +fix: Install no-such-agent-xyz/);
  const rows = fail.stdout.split('\n').filter((l) => /^(ok|warn|fail) /.test(l));
  t.same(
    new Set(rows.map((l) => (/^\S+ +\S+ +/.exec(l) as RegExpExecArray)[0].length)).size,
    1,
    "every detail starts in one column, native:better-sqlite3's included",
  );
  const agent = fail.stdout.split('\n').findIndex((l) => l.startsWith('fail  agent'));
  const lines = fail.stdout.split('\n');
  t.equal(lines[agent + 1]?.indexOf('fix:'), lines[agent]?.indexOf('agent executable'), 'the fix under its detail');
});

/** No cell crosses into the two spaces before each of these offsets. */
function columnsKept(t: Test, lines: string[], offsets: number[], width: number): void {
  for (const l of lines) {
    t.ok(l.length <= width, `fits in ${width}: ${JSON.stringify(l)}`);
    for (const o of offsets) t.equal(l.slice(o - 2, o).trim(), '', `nothing spills into the gap before ${o}: ${JSON.stringify(l)}`);
  }
}

t.test('doctor: a long check name and detail wrap inside their own columns at the given width', async (t) => {
  const name = 'a-check-with-a-very-long-name-of-its-own';
  const detail = '/var/lib/agent-runner/some-project/ledger.sqlite3: database disk image is malformed (page 7 of 12)';
  const fix = 'Stop the units, move the ledger aside and restart.';
  const lines = renderChecks(
    [
      { name: 'node', status: 'ok', detail: 'node 20.20.2' },
      { name, status: 'fail', detail, fix },
    ],
    60,
  );
  t.ok(lines.length > 3, 'wrapped');
  const nameAt = 6;
  const detailAt = (lines[0] as string).indexOf('node 20');
  t.ok(detailAt > nameAt + 'node'.length, 'three columns');
  columnsKept(t, lines, [nameAt, detailAt], 60);
  const rest = lines.slice(1);
  t.equal(rest.map((l) => l.slice(nameAt, detailAt).trim()).join(''), name, 'the name whole, in its column');
  t.equal(
    rest
      .map((l) => l.slice(detailAt))
      .join('')
      .replace(/\s/g, ''),
    `${detail}fix: ${fix}`.replace(/\s/g, ''),
    'the detail and fix whole, in theirs',
  );
  t.ok(
    rest.some((l) => l.slice(detailAt).startsWith('fix: ')),
    'the fix on a line of its own',
  );
});

t.test('doctor fits its table in the terminal width the context gives', async (t) => {
  const broken = tempProject('bad', { 'PROMPT.md': 'x', 'agent-runner.toml': CONFIG.replace('["sh"]', '["no-such-agent-xyz"]') });
  t.teardown(broken.cleanup);
  let stdout = '';
  const ctx = {
    ...docContext(),
    cwd: broken.dir,
    env: broken.env,
    nodeVersion: process.versions.node,
    columns: 50,
    stdout: new Writable({ write: (c, _e, cb) => void ((stdout += String(c)), cb()) }),
  };
  t.equal(doctor(ctx, {}), 1);
  const lines = stdout.trimEnd().split('\n').slice(0, -1);
  const detailAt = (lines[0] as string).indexOf('node ');
  columnsKept(t, lines, [6, detailAt], 50);
  t.match(stdout, /\n(ok|warn) +disk +/, 'every check listed');
  t.match(stdout, /1 check\(s\) failed\n$/);
});
