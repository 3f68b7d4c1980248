#!/usr/bin/env node
// Monitor benchmark (plain node over the compiled packages; run `npx tsc -b` first).
//
//   node bench/monitor.mjs           all figures (generates bench/.data/monitor-500k once)
//   node bench/monitor.mjs --regen   regenerate the 500k-event project first
//
// Prints figures, asserts nothing.
// 1. Poll cost at 500,000 events: the local source's first poll (bootstrap: the newest 500
//    events), then steady polls after 10 new events (cursor: reads only what was appended),
//    wall and RSS; and, for contrast, what one poll costs when it re-reads the whole stream.
// 2. Remote poll bytes per cycle (needs /usr/sbin/sshd: an sshd on 127.0.0.1 is started here):
//    SSH wire bytes, both directions, of the first poll, an idle poll, and a poll after a round.
// 3. Idle RSS of a running `agent-runner monitor` process (local, and remote when sshd exists).
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, '..');
const CLI = join(ROOT, 'packages/cli/dist/bin.js');
const core = (m) => import(join(ROOT, 'packages/core/dist', m));
const mon = (m) => import(join(ROOT, 'packages/monitor/dist', m));
const DATA = join(HERE, '.data', 'monitor-500k');
const N = Number(process.env.BENCH_EVENTS ?? 500_000);
const RUNS = Number(process.env.BENCH_RUNS ?? 20);

const { EventWriter, eventsSince } = await core('events/index.js');
const { loadConfig } = await core('config/index.js');
const { openLedger } = await core('ledger/index.js');
const { LocalSource } = await mon('local-source.js');
const { RemoteSource } = await mon('remote-source.js');
const { HostPoller } = await mon('poller.js');
const { DEFAULT_SETTINGS } = await mon('settings.js');

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const mb = (b) => (b / 1048576).toFixed(1);

function projectFiles(dir, agent = 'echo RESULT ok') {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'agent.sh'), `#!/bin/sh\ncat > /dev/null\n${agent}\n`);
  chmodSync(join(dir, 'agent.sh'), 0o755);
  writeFileSync(join(dir, 'PROMPT.md'), 'Do the next step.\n');
  writeFileSync(join(dir, '.gitignore'), '/.state/\n');
  writeFileSync(
    join(dir, 'agent-runner.toml'),
    `project = "bench"\n[agent]\npreset = "generic"\ncommand = ["./agent.sh"]\nprompt_delivery = "stdin"\n[agent.patterns]\nresult = ["^RESULT"]\n[prompt]\nfile = "PROMPT.md"\n[runtime]\nstate_dir = ".state"\nrestart_delay_s = 0\n`,
  );
  const env = { ...process.env, GIT_AUTHOR_NAME: 'b', GIT_AUTHOR_EMAIL: 'b@x', GIT_COMMITTER_NAME: 'b', GIT_COMMITTER_EMAIL: 'b@x' };
  execFileSync('git', ['init', '-q', '-b', 'main'], { cwd: dir });
  execFileSync('git', ['add', '-A'], { cwd: dir, env });
  execFileSync('git', ['commit', '-q', '-m', 'init'], { cwd: dir, env });
}

function generate() {
  rmSync(DATA, { recursive: true, force: true });
  projectFiles(DATA);
  const cfg = loadConfig(join(DATA, 'agent-runner.toml'), { env: process.env, mode: 'user' });
  let t = Date.now() - N * 100;
  const w = new EventWriter({ dir: join(cfg.runtime.log_dir, 'events'), project: 'bench', unit: 'runner', now: () => t });
  const t0 = performance.now();
  for (let i = 0, round = 1; i < N; round++) {
    t += 100;
    w.emit('round_start', { phase: 'default', prompt_bytes: 1200, log_file: `/x/R${round}.log`, agent: 'generic' }, { round });
    t += 100;
    w.emit(
      'round_end',
      {
        phase: 'default',
        exit_code: 0,
        signal: null,
        duration_s: 30.5,
        classification: 'ok',
        output_bytes: 40_000,
        usage: { input_tokens: 1000, output_tokens: 300 },
        cost_usd: 0.02,
        evidence: [{ source: 'stream', line: 12, detail: 'final result' }],
        summary: 'ok: done',
      },
      { round },
    );
    t += 100;
    w.emit('vcs_committed', { sha: 'a'.repeat(40), files: 3, message: `agent-runner: work of round ${round}` }, { round });
    i += 3;
  }
  w.close();
  const ledger = openLedger(cfg.runtime.state_dir + '/ledger.sqlite3');
  ledger.close();
  console.log(`generated ${N.toLocaleString()} events in ${((performance.now() - t0) / 1000).toFixed(1)} s into ${DATA}`);
}

// ---------------------------------------------------------------------------------------
if (process.argv.includes('--regen') || !existsSync(join(DATA, '.state', 'logs', 'events'))) generate();
const cfg = loadConfig(join(DATA, 'agent-runner.toml'), { env: process.env, mode: 'user' });
const evDir = join(cfg.runtime.log_dir, 'events');
const size = execFileSync('du', ['-sb', evDir], { encoding: 'utf8' }).split('\t')[0];
console.log(`\n## 1. Poll cost at ${N.toLocaleString()} events (${mb(Number(size))} MB of event files)\n`);
const rss0 = process.memoryUsage().rss;
const ledger = openLedger(join(cfg.runtime.state_dir, 'ledger.sqlite3'));
for (const system of [false, true]) {
  const src = new LocalSource(cfg, { ledger, now: Date.now, kill: () => {}, sleep: async () => true, system });
  const poller = new HostPoller(src, { settings: DEFAULT_SETTINGS, now: Date.now, log: () => {} });
  let t0 = performance.now();
  await poller.cycle();
  const first = performance.now() - t0;
  const walls = [];
  const w = new EventWriter({ dir: evDir, project: 'bench', unit: 'runner' });
  for (let r = 0; r < RUNS; r++) {
    for (let k = 0; k < 10; k++) w.emit('round_start', { phase: 'default', prompt_bytes: 1, log_file: '/x' }, { round: 1 });
    t0 = performance.now();
    await poller.cycle();
    walls.push(performance.now() - t0);
  }
  w.close();
  console.log(
    `- ${system ? 'with' : 'without'} systeminformation memory: first poll ${first.toFixed(1)} ms (${poller.window.ingested} events read), steady poll (10 new events) median ${median(walls).toFixed(2)} ms, max ${Math.max(...walls).toFixed(2)} ms; RSS ${mb(process.memoryUsage().rss)} MB (${mb(process.memoryUsage().rss - rss0)} MB over the process baseline)`,
  );
}
ledger.close();
{
  const t0 = performance.now();
  let n = 0;
  let c = null;
  for (;;) {
    const r = eventsSince(evDir, { cursor: c, limit: 100_000 });
    n += r.events.length;
    c = r.cursor;
    if (r.done) break;
  }
  console.log(
    `- contrast, one poll re-reading the whole stream (what a cursor avoids): ${(performance.now() - t0).toFixed(0)} ms for ${n.toLocaleString()} events`,
  );
}

// ---------------------------------------------------------------------------------------
async function freePort() {
  const s = createServer();
  await new Promise((r) => s.listen(0, '127.0.0.1', r));
  const p = s.address().port;
  await new Promise((r) => s.close(r));
  return p;
}

async function rssOf(args, cwd, env, ms) {
  const child = spawn(process.execPath, [CLI, 'monitor', ...args], { cwd, env, stdio: ['ignore', 'ignore', 'ignore'] });
  await new Promise((r) => setTimeout(r, ms));
  const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
  child.kill('SIGTERM');
  await new Promise((r) => child.on('close', r));
  const kb = (k) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(status)?.[1] ?? 0) * 1024;
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}

console.log('\n## 3. Monitor idle RSS\n');
{
  const r = await rssOf(['--config', join(DATA, 'agent-runner.toml')], DATA, process.env, 8000);
  console.log(`- local anomaly mode on the ${N.toLocaleString()}-event project, after 8 s: RSS ${mb(r.rss)} MB (peak ${mb(r.hwm)} MB)`);
}

console.log('\n## 2. Remote poll bytes per cycle\n');
if (!existsSync('/usr/sbin/sshd')) {
  console.log('- skipped: /usr/sbin/sshd not installed (apt-get install openssh-server)');
} else {
  const dir = mkdtempSync(join(tmpdir(), 'ar-bench-ssh-'));
  try {
    const port = await freePort();
    const kg = (p) => {
      execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', p]);
      return readFileSync(`${p}.pub`, 'utf8').split(' ')[1];
    };
    const hostKey = kg(join(dir, 'host'));
    kg(join(dir, 'client'));
    writeFileSync(join(dir, 'authorized_keys'), readFileSync(join(dir, 'client.pub')));
    writeFileSync(
      join(dir, 'sshd_config'),
      `Port ${port}\nListenAddress 127.0.0.1\nHostKey ${join(dir, 'host')}\nPidFile ${join(dir, 'pid')}\nAuthorizedKeysFile ${join(dir, 'authorized_keys')}\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nStrictModes no\nUsePAM no\nLogLevel ERROR\n`,
    );
    writeFileSync(join(dir, 'known_hosts'), `[127.0.0.1]:${port} ssh-ed25519 ${hostKey}\n`);
    mkdirSync(join(dir, '.ssh'), { recursive: true });
    writeFileSync(
      join(dir, '.ssh', 'config'),
      `Host benchhost\n  HostName 127.0.0.1\n  Port ${port}\n  User ${userInfo().username}\n  IdentityFile ${join(dir, 'client')}\n  UserKnownHostsFile ${join(dir, 'known_hosts')}\n`,
    );
    mkdirSync('/run/sshd', { recursive: true });
    const sshd = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', join(dir, 'sshd_config')], { stdio: 'ignore' });
    await new Promise((r) => setTimeout(r, 500));
    const proj = join(dir, 'proj');
    projectFiles(proj);
    spawnSync(process.execPath, [CLI, 'serve', '--max-rounds', '3'], { cwd: proj, stdio: 'ignore' });
    const remoteCommand = `${process.execPath} ${CLI} --config ${join(proj, 'agent-runner.toml')}`;
    const src = new RemoteSource({
      alias: 'benchhost',
      remoteCommand,
      timeoutMs: 30_000,
      ssh: { configFile: join(dir, '.ssh', 'config'), env: { home: dir, user: 'x' }, acceptNewHostKey: false },
    });
    const first = await src.poll();
    const idle = [];
    for (let i = 0; i < 5; i++) idle.push((await src.poll()).bytes);
    spawnSync(process.execPath, [CLI, 'serve', '--max-rounds', '1'], { cwd: proj, stdio: 'ignore' });
    const after = await src.poll();
    console.log(
      `- first poll (handshake not counted; peek + newest 500 events): ${first.bytes.toLocaleString()} B, ${first.events.length} events`,
    );
    console.log(`- idle poll (no new event; peek --json only): median ${median(idle).toLocaleString()} B`);
    console.log(`- poll after one more round (${after.events.length} new events): ${after.bytes.toLocaleString()} B`);
    src.close();
    const r = await rssOf(
      ['--host', 'benchhost', '--ssh-config', join(dir, '.ssh', 'config'), '--remote-command', remoteCommand],
      dir,
      { ...process.env, HOME: dir },
      8000,
    );
    console.log(`- idle RSS of \`monitor --host\` after 8 s: ${mb(r.rss)} MB (peak ${mb(r.hwm)} MB)`);
    sshd.kill('SIGKILL');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
