// Watchdog figures: time from a unit freezing to healthy again per tier needed, and the
// watchdog's idle CPU and RSS. Runs the real `agent-runner watchdog` (packages/cli/dist)
// against the target fixture (packages/watchdog/test/fixtures/target.mjs). Build first.
//
//   node bench/watchdog.mjs            BENCH_SCALE=30 (short settings = defaults / 30)
//                                       BENCH_IDLE_S=45 (idle measurement window)
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CONFIG_SCHEMA } from '../packages/core/dist/config/schema.js';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const CLI = join(REPO, 'packages/cli/dist/bin.js');
const TARGET = join(REPO, 'packages/watchdog/test/fixtures/target.mjs');
const VERSION = JSON.parse(readFileSync(join(REPO, 'packages/watchdog/package.json'), 'utf8')).version;
const SCALE = Number(process.env.BENCH_SCALE ?? 30);
const IDLE_S = Number(process.env.BENCH_IDLE_S ?? 45);
// Defaults of [watchdog], seconds, from the schema itself; the bridge's threshold.
const W = CONFIG_SCHEMA.properties.watchdog.properties;
const DEF = {
  interval_s: W.interval_s.default,
  stale_s: W.stale_after_s.properties.bridge.default,
  cooldown_s: W.tier_cooldown_s.default,
  grace_s: W.term_grace_s.default,
  verify_s: W.verify_window_s.default,
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function project(w) {
  const dir = mkdtempSync(join(tmpdir(), 'ar-wd-bench-'));
  const stateDir = join(dir, 'state');
  mkdirSync(stateDir, { recursive: true });
  writeFileSync(join(dir, 'prompt.md'), 'x\n');
  const lines = [
    'project = "wdt"',
    '[agent]',
    'preset = "generic"',
    'command = ["true"]',
    '[prompt]',
    'file = "prompt.md"',
    '[runtime]',
    `state_dir = ${JSON.stringify(stateDir)}`,
    'heartbeat_interval_s = 1',
    '[watchdog]',
    `targets = ${JSON.stringify(w.targets ?? ['bridge'])}`,
  ];
  for (const [k, v] of Object.entries(w.keys ?? {})) lines.push(`${k} = ${v}`);
  if (w.respawn)
    lines.push(`respawn_command.bridge = ${JSON.stringify([process.execPath, TARGET, stateDir, 'bridge', VERSION, 'normal'])}`);
  writeFileSync(join(dir, 'agent-runner.toml'), `${lines.join('\n')}\n`);
  const env = { HOME: dir, PATH: process.env.PATH, LANG: 'C.UTF-8' };
  const kids = [];
  const target = (unit) => {
    const c = spawn(process.execPath, [TARGET, stateDir, unit, VERSION, 'normal'], { stdio: ['ignore', 'pipe', 'inherit'], env });
    kids.push(c);
    return new Promise((res) => c.stdout.once('data', () => res(c)));
  };
  const watchdog = () => {
    const c = spawn(process.execPath, [CLI, 'watchdog', '--config', join(dir, 'agent-runner.toml')], { stdio: 'ignore', env });
    kids.push(c);
    return c;
  };
  const evDir = join(stateDir, 'logs', 'events');
  const events = () =>
    existsSync(evDir)
      ? readdirSync(evDir)
          .sort()
          .flatMap((f) =>
            readFileSync(join(evDir, f), 'utf8')
              .split('\n')
              .filter(Boolean)
              .map((l) => JSON.parse(l)),
          )
      : [];
  const cleanup = () => {
    for (const c of kids) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    try {
      const e = JSON.parse(readFileSync(join(stateDir, 'run', 'enroll-bridge.json'), 'utf8'));
      if (readFileSync(`/proc/${e.pid}/cmdline`, 'utf8').includes(TARGET)) process.kill(e.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
    rmSync(dir, { recursive: true, force: true });
  };
  return { target, watchdog, events, cleanup };
}

async function waitFor(fn, ms = 60_000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > end) throw new Error('timeout');
    await sleep(20);
  }
}

const short = (x) => x / SCALE;
const SHORT_KEYS = {
  interval_s: short(DEF.interval_s),
  'stale_after_s.bridge': short(DEF.stale_s),
  tier_cooldown_s: short(DEF.cooldown_s),
  term_grace_s: short(DEF.grace_s),
  verify_window_s: short(DEF.verify_s),
};

// One scenario: how the unit misbehaves decides which tier is needed.
// T1: heartbeats stop, the loop still reads its marker (SIGUSR2). T2: wedged, honours SIGTERM
// (SIGUSR1). T3: frozen (SIGSTOP). The bench restarts an exited unit at once, like systemd.
async function scenario(tier) {
  const p = project({ keys: SHORT_KEYS, respawn: true });
  try {
    let unit = await p.target('bridge');
    const keep = (c) =>
      c.once('exit', async () => {
        if (!stopping) {
          unit = await p.target('bridge');
          keep(unit);
        }
      });
    let stopping = false;
    keep(unit);
    p.watchdog();
    await waitFor(() => p.events().some((e) => e.kind === 'heal_verdict_changed' && e.to === 'healthy'));
    const t0 = Date.now();
    process.kill(unit.pid, tier === 1 ? 'SIGUSR2' : tier === 2 ? 'SIGUSR1' : 'SIGSTOP');
    const healthy = await waitFor(() =>
      p.events().find((e) => e.kind === 'heal_verdict_changed' && e.to === 'healthy' && Date.parse(e.ts) > t0),
    );
    const tHealthy = Date.parse(healthy.ts) - t0;
    let tVerified = tHealthy;
    if (tier === 3)
      tVerified = Date.parse((await waitFor(() => p.events().find((e) => e.kind === 'heal_verified' && e.tier === 3))).ts) - t0;
    const tiers = p
      .events()
      .filter((e) => e.kind === 'heal_action')
      .map((e) => e.tier);
    stopping = true;
    return { tier, tHealthy, tVerified, tiers };
  } finally {
    p.cleanup();
  }
}

// Expected timeline with settings s (seconds), the probe quantisation averaged to half an interval.
function model(tier, s, startup = 0.3) {
  const detect = s.stale_s + s.interval_s / 2;
  if (tier === 1) return { healthy: detect + startup, verified: detect + startup };
  if (tier === 2) return { healthy: detect + s.cooldown_s + startup, verified: detect + s.cooldown_s + startup };
  // A stopped process (state T) cannot read a marker or take SIGTERM: straight to T3.
  return { healthy: detect + startup, verified: detect + startup + s.verify_s + s.interval_s / 2 };
}

function cpuTicks(pid) {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const r = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return Number(r[11]) + Number(r[12]); // utime + stime (fields 14, 15)
}
const rssKb = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);

async function idle(intervalS) {
  const p = project({ targets: ['runner', 'bridge', 'monitor'], keys: { interval_s: intervalS } });
  try {
    await Promise.all(['runner', 'bridge', 'monitor'].map((u) => p.target(u)));
    const wd = p.watchdog();
    await sleep(3000); // startup done
    const c0 = cpuTicks(wd.pid);
    const t0 = Date.now();
    let maxRss = 0;
    while (Date.now() - t0 < IDLE_S * 1000) {
      maxRss = Math.max(maxRss, rssKb(wd.pid));
      await sleep(1000);
    }
    const cpuS = (cpuTicks(wd.pid) - c0) / 100; // USER_HZ = 100
    return { intervalS, cpuPct: (100 * cpuS) / ((Date.now() - t0) / 1000), rssMb: rssKb(wd.pid) / 1024, maxRssMb: maxRss / 1024 };
  } finally {
    p.cleanup();
  }
}

console.log(`# watchdog bench: short settings = defaults / ${SCALE} (${JSON.stringify(SHORT_KEYS)})`);
console.log(
  '| tier needed | scenario | measured short: healthy / verified s | x scale | model at defaults: healthy / verified s | tiers taken |',
);
console.log('|---|---|---:|---:|---:|---|');
const names = { 1: 'heartbeat stops, marker still read', 2: 'wedged, honours SIGTERM', 3: 'frozen (SIGSTOP)' };
for (const tier of [1, 2, 3]) {
  const r = await scenario(tier);
  const m = model(tier, DEF);
  console.log(
    `| T${tier} | ${names[tier]} | ${(r.tHealthy / 1000).toFixed(2)} / ${(r.tVerified / 1000).toFixed(2)} | ${((r.tHealthy * SCALE) / 1000).toFixed(0)} / ${((r.tVerified * SCALE) / 1000).toFixed(0)} | ${m.healthy.toFixed(0)} / ${m.verified.toFixed(0)} | ${r.tiers.map((x) => `T${x}`).join(' ')} |`,
  );
}
console.log('\n| idle watchdog, 3 healthy targets | interval | CPU % of one core | RSS MB (end / max) |');
console.log('|---|---:|---:|---:|');
for (const i of [DEF.interval_s, 1]) {
  const r = await idle(i);
  console.log(`| ${IDLE_S} s window | ${i} s | ${r.cpuPct.toFixed(3)} | ${r.rssMb.toFixed(1)} / ${r.maxRssMb.toFixed(1)} |`);
}
