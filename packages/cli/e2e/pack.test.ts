// The npm tarball: pack with the internal packages bundled, `npm install -g` into a temp prefix
// (compiles the native modules), `--version` and `doctor`; then `agent-runner upgrade` to a
// newer local tarball (staged, switched: package_upgraded) and to a broken one (its smoke check
// in staging fails, nothing touched: service_upgrade_rolled_back); under systemd, an upgrade
// that compiles while serve keeps running and its downtime, a broken one that stops nothing and
// one whose serve cannot start (rolled back). Run by scripts/ci/pack.sh; no network but the npm
// cache.
import t from 'tap';
import { openLedger } from '@agent-runner/core/ledger';
import { spawn, spawnSync } from 'node:child_process';
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url)).replace(/\/$/, '');
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'packages/core/package.json'), 'utf8')) as { version: string }).version;
// Not under /tmp or /var/tmp: the system units of the last test have PrivateTmp=yes and must
// see the installed CLI.
mkdirSync('/srv', { recursive: true });
const work = mkdtempSync('/srv/ar-pack-e2e-');
chmodSync(work, 0o755);
t.teardown(() => rmSync(work, { recursive: true, force: true }));
const prefix = join(work, 'prefix');
const bin = join(prefix, 'bin', 'agent-runner');
const pkgDir = join(prefix, 'lib', 'node_modules', 'agent-runner');
let packedTarball = '';

function run(
  cmd: string,
  args: string[],
  opts: { cwd?: string; env?: Record<string, string | undefined>; timeoutMs?: number } = {},
): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, {
    cwd: opts.cwd ?? work,
    env: { ...process.env, ...opts.env },
    encoding: 'utf8',
    timeout: opts.timeoutMs ?? 120_000,
    maxBuffer: 64 << 20,
  });
  return { code: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

// A project to run doctor and to receive the upgrade events, with its own HOME.
const home = join(work, 'home');
const proj = join(work, 'proj');
mkdirSync(home);
mkdirSync(proj);
writeFileSync(
  join(proj, 'agent-runner.toml'),
  'project = "packdemo"\n[agent]\npreset = "generic"\ncommand = ["node", "agent.mjs"]\n[prompt]\nfile = "PROMPT.md"\n',
);
writeFileSync(join(proj, 'PROMPT.md'), 'work\n');
writeFileSync(join(proj, 'agent.mjs'), '');
run('git', ['init', '-q', '-b', 'main'], { cwd: proj });
const env = {
  HOME: home,
  XDG_STATE_HOME: undefined,
  XDG_CONFIG_HOME: undefined,
  npm_config_prefer_offline: 'true',
  npm_config_audit: 'false',
  npm_config_fund: 'false',
};

function events(): Array<Record<string, unknown>> {
  const dir = join(home, '.local/state/agent-runner/packdemo/logs/events');
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((f) =>
    readFileSync(join(dir, f), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>),
  );
}

t.test('npm pack bundles the internal packages; npm install -g gives a working CLI', async (t) => {
  const packed = run(join(ROOT, 'scripts/pack-cli.sh'), [work], { timeoutMs: 300_000 });
  t.equal(packed.code, 0, packed.stderr);
  const tarball = packed.stdout.trim().split('\n').pop() ?? '';
  packedTarball = tarball;
  t.match(tarball, new RegExp(`agent-runner-${VERSION.replace(/\./g, '\\.')}\\.tgz$`));
  const list = run('tar', ['tzf', tarball]).stdout;
  for (const p of ['core', 'runner', 'bridge', 'monitor', 'watchdog'])
    t.match(list, `package/node_modules/@agent-runner/${p}/dist/`, `@agent-runner/${p} is bundled`);
  t.match(list, 'package/node_modules/better-sqlite3/binding.gyp', 'native sources are bundled (compiled at install)');
  t.match(list, 'package/node_modules/node-pty/binding.gyp', 'node-pty is bundled as sources too');
  t.notMatch(list, /\.(pdb|dll|exe)$/im, 'no Windows binaries or debug symbols');
  t.notMatch(list, /\/prebuilds\/(?!linux-)/, 'no prebuilt binaries for other platforms');
  t.notMatch(list, /\/build\/(Release|Debug|Makefile)/, 'no node-gyp output of the packing host');
  t.notMatch(list, /\/deps\/winpty\//, 'no node-pty sources built only on Windows');
  t.notMatch(list, /^package\/node_modules\/.+\/(test|tests|\.github)\//m, "no deps' tests or CI files");
  const size = statSync(tarball).size;
  t.comment(`tarball: ${size} bytes, ${list.split('\n').filter(Boolean).length} files`);
  // 5.1 MB without the debris, 21 MB with node-pty's win32 .pdb files.
  t.ok(size < 7_000_000, `tarball under 7 MB (${size} bytes)`);
  const t0 = Date.now();
  const inst = run('npm', ['install', '--global', '--prefix', prefix, tarball], { env, timeoutMs: 1_200_000 });
  t.equal(inst.code, 0, inst.stderr.slice(-3000));
  t.comment(`npm install -g took ${Math.round((Date.now() - t0) / 1000)} s (native modules compiled)`);
  const v = run(bin, ['--version'], { cwd: proj, env });
  t.equal(v.stdout.trim(), VERSION);
  const d = run(bin, ['doctor', '--json'], { cwd: proj, env });
  const report = JSON.parse(d.stdout) as { checks: Array<{ name: string; status: string; detail: string }> };
  for (const name of ['node', 'native:better-sqlite3', 'native:node-pty', 'config']) {
    t.equal(report.checks.find((c) => c.name === name)?.status, 'ok', `doctor: ${name} ok`);
  }
  // The text report is a table (cli-table3 and its own string-width 4, not the hoisted 7).
  const text = run(bin, ['doctor'], { cwd: proj, env });
  t.match(text.stdout, /^ok\s+native:node-pty\s+node-pty loads$/m, `doctor's table: ${text.stderr.slice(-500)}`);
  t.same(
    mismatchedDeps(join(pkgDir, 'node_modules'), join(ROOT, 'node_modules')),
    [],
    'every bundled package resolves the versions it resolves in the workspace',
  );
});

/** The version of package `n` that node resolves from directory `dir`, looking no higher than `top`. */
function resolvedVersion(dir: string, n: string, top: string): string | undefined {
  for (let d = dir; d.startsWith(top); d = join(d, '..')) {
    const f = join(d, 'node_modules', n, 'package.json');
    if (existsSync(f)) return (JSON.parse(readFileSync(f, 'utf8')) as { version: string }).version;
  }
  return undefined;
}

/**
 * Each dependency edge of the packages under `installed` (a node_modules) whose resolved version
 * differs from the same edge under `workspace`, as `pkg -> dep: installed != workspace`.
 */
function mismatchedDeps(installed: string, workspace: string): string[] {
  const out: string[] = [];
  const walk = (rel: string): void => {
    const dir = join(installed, rel);
    const meta = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
    for (const n of Object.keys(meta.dependencies ?? {})) {
      if (n.startsWith('@agent-runner/')) continue;
      const want = resolvedVersion(join(workspace, rel), n, join(workspace, '..'));
      const got = resolvedVersion(dir, n, join(installed, '..'));
      if (want !== undefined && got !== want) out.push(`${rel} -> ${n}: ${got ?? 'missing'} != ${want}`);
    }
    const nested = join(dir, 'node_modules');
    if (existsSync(nested)) for (const n of packagesIn(nested)) walk(join(rel, 'node_modules', n));
  };
  for (const n of packagesIn(installed)) if (!n.startsWith('@agent-runner/')) walk(n);
  return out;
}

/** Package names in a node_modules directory (scoped ones as `@scope/name`). */
function packagesIn(nm: string): string[] {
  return readdirSync(nm)
    .filter((n) => !n.startsWith('.'))
    .flatMap((n) => (n.startsWith('@') ? readdirSync(join(nm, n)).map((m) => `${n}/${m}`) : [n]))
    .filter((n) => existsSync(join(nm, n, 'package.json')));
}

/** Sets `version` in the CLI's and core's package.json under `stage/package`. */
function setVersion(stage: string, version: string): void {
  for (const f of ['package/package.json', 'package/node_modules/@agent-runner/core/package.json']) {
    const p = join(stage, f);
    const j = JSON.parse(readFileSync(p, 'utf8')) as { version: string };
    j.version = version;
    writeFileSync(p, JSON.stringify(j, null, 2));
  }
}

/** The packed tarball with another version: native modules as sources, compiled by the install. */
function sourceVariant(version: string): string {
  const stage = join(work, `src-${version}`);
  mkdirSync(stage);
  t.equal(run('tar', ['xzf', packedTarball, '-C', stage]).code, 0);
  setVersion(stage, version);
  const out = join(work, `agent-runner-${version}.tgz`);
  t.equal(run('tar', ['czf', out, '-C', stage, 'package']).code, 0);
  return out;
}

/**
 * A tarball of the installed package with another version: working, `broken` (its CLI throws:
 * the smoke check fails) or `no-serve` (passes the smoke check, but `serve` exits 1).
 */
function variant(version: string, kind: 'ok' | 'broken' | 'no-serve' = 'ok'): string {
  const stage = join(work, `stage-${version}`);
  cpSync(pkgDir, join(stage, 'package'), { recursive: true, verbatimSymlinks: true });
  setVersion(stage, version);
  const binJs = join(stage, 'package/dist/bin.js');
  if (kind === 'broken') writeFileSync(binJs, 'throw new Error("this build is broken");\n');
  if (kind === 'no-serve') {
    renameSync(binJs, join(stage, 'package/dist/bin-real.js'));
    writeFileSync(
      binJs,
      'if (process.argv.includes("serve")) { console.error("this build cannot serve"); process.exit(1); }\nawait import("./bin-real.js");\n',
    );
  }
  const out = join(work, `agent-runner-${version}.tgz`);
  // The compiled native modules travel in this tarball: installs below skip install scripts.
  t.equal(run('tar', ['czf', out, '-C', stage, 'package']).code, 0);
  return out;
}

/** What is left in `<prefix>/lib/node_modules` besides the package: staging or backup directories. */
const leftovers = (): string[] => readdirSync(join(prefix, 'lib/node_modules')).filter((n) => n !== 'agent-runner');

t.test('upgrade --no-restart to a newer tarball: staged, smoke-checked, switched; package_upgraded', async (t) => {
  const good = variant(`${VERSION}-up.1`);
  // A relative tarball path is the operator's (npm itself runs in the prefix).
  const r = run(bin, ['upgrade', '--target', `../agent-runner-${VERSION}-up.1.tgz`, '--no-restart'], {
    cwd: proj,
    env: { ...env, npm_config_ignore_scripts: 'true' },
    timeoutMs: 600_000,
  });
  t.equal(r.code, 0, r.stderr + r.stdout);
  t.match(
    r.stdout,
    new RegExp(
      `^staging ${good.replace(/\./g, '\\.')} in ${prefix}/lib/node_modules/\\.agent-runner-staging \\(npm; ${VERSION} keeps running\\)\\.\\.\\.\\n`,
    ),
  );
  t.match(
    r.stdout,
    new RegExp(
      `staged ${VERSION}-up\\.1: smoke check passed\\nswitched ${pkgDir} to ${VERSION}-up\\.1\\nupgraded the package ${VERSION} -> ${VERSION}-up\\.1`,
    ),
  );
  t.match(r.stdout, /agent-runner restart/);
  t.equal(run(bin, ['--version'], { cwd: proj, env }).stdout.trim(), `${VERSION}-up.1`);
  t.same(leftovers(), [], 'no staging or backup directory left');
  const e = events().find((x) => x['kind'] === 'package_upgraded');
  t.match(e, { unit: 'cli', from_version: VERSION, to_version: `${VERSION}-up.1`, method: 'npm' });
});

t.test('upgrade to a broken tarball: the smoke check in staging fails, the installed version is not touched', async (t) => {
  const ledgerPath = join(home, '.local/state/agent-runner/packdemo/ledger.sqlite3');
  openLedger(ledgerPath).close();
  const bad = variant(`${VERSION}-up.2`, 'broken');
  const ino = statSync(pkgDir).ino;
  const r = run(bin, ['upgrade', '--target', bad, '--no-restart'], {
    cwd: proj,
    env: { ...env, npm_config_ignore_scripts: 'true' },
    timeoutMs: 600_000,
  });
  t.equal(r.code, 75, r.stderr + r.stdout);
  t.match(
    r.stderr,
    new RegExp(
      `upgrade to ${VERSION}-up\\.2 failed in staging, before anything was stopped: \`agent-runner --version\` failed: .*Error: this build is broken \\[ERR_AR_UPGRADE\\]`,
    ),
  );
  t.match(r.stderr, new RegExp(`hint: agent-runner ${VERSION}-up\\.1 was not touched and keeps running`));
  t.notMatch(r.stdout + r.stderr, /switched|stopping/, 'nothing was switched or stopped');
  t.equal(statSync(pkgDir).ino, ino, 'the installed package directory is the same one');
  t.equal(run(bin, ['--version'], { cwd: proj, env }).stdout.trim(), `${VERSION}-up.1`, 'the previous version still runs');
  const d = JSON.parse(run(bin, ['doctor', '--json'], { cwd: proj, env }).stdout) as { checks: Array<{ name: string; status: string }> };
  t.equal(d.checks.find((c) => c.name === 'native:better-sqlite3')?.status, 'ok', 'native modules intact');
  t.same(leftovers(), [], 'the staging directory is removed');
  const e = events().find((x) => x['kind'] === 'service_upgrade_rolled_back');
  t.match(e, { from_version: `${VERSION}-up.1`, to_version: `${VERSION}-up.2` });
  t.match(String(e?.['reason']), /--version/);
  const q = run(bin, ['events', '--kind', 'package_upgraded,service_upgrade_rolled_back', '--json'], { cwd: proj, env });
  t.equal(q.code, 0, q.stderr);
  t.same(
    q.stdout
      .split('\n')
      .filter(Boolean)
      .map((l) => (JSON.parse(l) as { kind: string }).kind),
    ['package_upgraded', 'service_upgrade_rolled_back'],
    'agent-runner events shows the upgrade history',
  );
  const ledger = openLedger(ledgerPath);
  t.teardown(() => ledger.close());
  const alarm = ledger.outbox.getOutbox(1);
  t.equal(alarm?.kind, 'upgrade_failed', 'the upgrade_failed alarm is queued for the bridge');
  t.match(alarm?.title, new RegExp(`^packdemo@.+: upgrade to ${VERSION}-up\\.2 failed before the switch$`));
  t.match(alarm?.body, /was never stopped and still runs/, 'the alarm says the old version kept running');
});

/** Runs a command without blocking this process (so serve can be sampled meanwhile). */
function runAsync(cmd: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

t.test('system units: staged and smoke-checked while serve runs, then stop, switch, start in seconds (service_upgraded)', async (t) => {
  const sandbox = join(ROOT, 'scripts/systemd-sandbox.sh');
  const boot = run(sandbox, ['start', ROOT, work], { timeoutMs: 120_000 });
  t.equal(boot.code, 0, boot.stderr);
  const pid = boot.stdout.trim();
  t.teardown(() => void run(sandbox, ['stop', pid]));
  const root = (cmd: string): ReturnType<typeof run> => run(sandbox, ['exec', pid, 'sh', '-c', cmd], { timeoutMs: 600_000 });
  const userSh = (cmd: string): ReturnType<typeof run> => run(sandbox, ['user', pid, 'op', 'sh', '-c', cmd]);
  t.equal(root('useradd -m op').code, 0);
  writeFileSync(
    join(work, 'setup.sh'),
    [
      'set -e',
      'mkdir -p ~/proj && cd ~/proj && git init -q -b main',
      `printf '%s\\n' 'project = "up"' '[agent]' 'preset = "generic"' 'command = ["node", "agent.mjs"]' 'prompt_delivery = "stdin"' '[agent.patterns]' 'result = ["^RESULT: "]' '[prompt]' 'file = "PROMPT.md"' '[runtime]' 'restart_delay_s = 1' '[vcs]' 'dirty_action = "ignore"' > agent-runner.toml`,
      `printf 'work\\n' > PROMPT.md`,
      `printf '%s\\n' 'setTimeout(() => console.log("RESULT: ok"), 300);' > agent.mjs`,
      'git add -A && git -c user.name=t -c user.email=t@e commit -qm init',
      '',
    ].join('\n'),
    { mode: 0o755 },
  );
  t.equal(userSh(`bash ${work}/setup.sh`).code, 0);
  const inst = root(`cd /home/op/proj && SUDO_USER=op ${bin} install --system --now`);
  t.equal(inst.code, 0, inst.stderr);
  const serve = (): { active: boolean; pid: string; restarts: string } => {
    const o = root('systemctl show agent-runner@up.service -p ActiveState -p MainPID -p NRestarts').stdout;
    return {
      active: /ActiveState=active/.test(o),
      pid: /MainPID=(\d+)/.exec(o)?.[1] ?? '0',
      restarts: /NRestarts=(\d+)/.exec(o)?.[1] ?? '',
    };
  };
  const runningVersion = (): string | undefined =>
    (JSON.parse(root(`cd /home/op/proj && ${bin} --system status --json`).stdout) as { runner: { version: string } | null }).runner
      ?.version;
  const waitActive = (): boolean => {
    for (let i = 0; i < 120; i++) {
      if (serve().active && /"runner": \{/.test(root(`cd /home/op/proj && ${bin} --system status --json`).stdout)) return true;
      spawnSync('sleep', ['0.5']);
    }
    return false;
  };
  const upgradeEvents = (kind: string): Array<Record<string, unknown>> =>
    root(`cat /var/log/agent-runner/up/events/*.jsonl`)
      .stdout.split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((e) => e['kind'] === kind);
  t.ok(waitActive(), 'serve runs from the npm install');
  const before = serve();

  // The real tarball (native modules compiled by the install, over a minute here), while serve
  // is sampled every 0.5 s from outside: when it stopped, when the new one was up.
  const next = sourceVariant(`${VERSION}-up.3`);
  const t0 = Date.now();
  const pending = runAsync(sandbox, [
    'exec',
    pid,
    'sh',
    '-c',
    `cd /home/op/proj && npm_config_prefer_offline=true ${bin} --system upgrade --target ${next}`,
  ]);
  let done: Awaited<typeof pending> | undefined;
  void pending.then((r) => (done = r));
  let lastOld = t0;
  let firstNew: number | undefined;
  while (!done) {
    const at = Date.now();
    const s = serve();
    if (s.active && s.pid === before.pid) lastOld = at;
    else if (s.active && firstNew === undefined) firstNew = at;
    await new Promise((r) => setTimeout(r, 500));
  }
  if (firstNew === undefined && serve().active) firstNew = Date.now(); // up within the last sampling interval
  const up = done;
  t.equal(up.code, 0, up.stderr + up.stdout);
  t.match(
    up.stdout,
    /^staging .+ \(npm; \S+ keeps running\)\.\.\.\n(installing .+ into staging: \d+ s\.\.\.\n)+smoke check of \S+ in staging\.\.\.\nstaged \S+: smoke check passed\nstopping service\.\.\.\nstopped \(\d+\.\ds\)\nswitched .+\nstarted agent-runner@up\.target\n/,
    'the phases, and a progress line every 30 s while npm compiles',
  );
  t.match(up.stdout, new RegExp(`upgraded \\S+ -> ${VERSION}-up\\.3; restarted agent-runner@up\\.target; downtime \\d+\\.\\d s`));
  t.ok(waitActive(), 'serve runs again');
  t.not(serve().pid, before.pid, 'a new main process');
  t.equal(runningVersion(), `${VERSION}-up.3`, 'the running serve is the new version');
  const ev = upgradeEvents('service_upgraded').pop();
  t.match(ev, { to_version: `${VERSION}-up.3`, units: ['agent-runner@up.service'], downtime_s: Number });
  const downtime = Number(ev?.['downtime_s']);
  const seen = firstNew === undefined ? NaN : (firstNew - lastOld) / 1000;
  t.comment(
    `upgrade with compile: ${((Date.now() - t0) / 1000).toFixed(1)} s in all; old serve up for the first ${((lastOld - t0) / 1000).toFixed(1)} s; downtime ${downtime} s reported, ${seen.toFixed(1)} s seen from outside (0.5 s samples)`,
  );
  t.ok(downtime < 30, `downtime under 30 s (${downtime} s)`);
  t.ok(seen < 30, `seen from outside: under 30 s (${seen} s)`);
  t.ok(lastOld - t0 > 30_000, 'the old serve kept running while npm compiled in staging');
  t.same(leftovers(), [], 'no staging or backup directory left');
  t.equal(
    root(`find /var/log/agent-runner/up -not -user op | wc -l`).stdout.trim(),
    '0',
    'root wrote no file the service user cannot append to',
  );

  const running = serve();
  const bad = variant(`${VERSION}-up.4`, 'broken');
  const no = root(
    `cd /home/op/proj && npm_config_ignore_scripts=true npm_config_prefer_offline=true ${bin} --system upgrade --target ${bad}`,
  );
  t.equal(no.code, 75, no.stderr + no.stdout);
  t.match(no.stderr, /failed in staging, before anything was stopped: .*this build is broken/);
  t.notMatch(no.stdout, /stopping/);
  t.same(serve(), running, 'serve was never stopped: same main process, no restart');
  t.match(upgradeEvents('service_upgrade_rolled_back').pop(), { to_version: `${VERSION}-up.4`, downtime_s: 0 });

  const noServe = variant(`${VERSION}-up.5`, 'no-serve');
  const rb = root(
    `cd /home/op/proj && npm_config_ignore_scripts=true npm_config_prefer_offline=true ${bin} --system upgrade --target ${noServe}`,
  );
  t.equal(rb.code, 75, rb.stderr + rb.stdout);
  t.match(rb.stdout, /staged \S+: smoke check passed\nstopping service\.\.\.\nstopped \(\d+\.\ds\)\nswitched /);
  t.match(rb.stderr, new RegExp(`upgrade to ${VERSION}-up\\.5 failed: systemctl start failed: .*; rolling back to ${VERSION}-up\\.3`));
  t.match(rb.stderr, new RegExp(`rolled back to ${VERSION}-up\\.3; restarted agent-runner@up\\.target; downtime \\d+\\.\\d s`));
  t.ok(waitActive(), 'serve runs again');
  t.equal(runningVersion(), `${VERSION}-up.3`, 'on the previous version');
  t.equal(run(bin, ['--version'], { cwd: proj, env }).stdout.trim(), `${VERSION}-up.3`, 'the package is the previous one');
  const back = upgradeEvents('service_upgrade_rolled_back').pop();
  t.match(back, { from_version: `${VERSION}-up.3`, to_version: `${VERSION}-up.5`, reason: /systemctl start failed/, downtime_s: Number });
  t.comment(`rollback after a failed start: downtime ${String(back?.['downtime_s'])} s`);
  t.same(leftovers(), [], 'no staging or backup directory left');
});
