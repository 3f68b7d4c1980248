// The npm tarball: pack with the internal packages bundled, `npm install -g` into a temp prefix
// (compiles the native modules), `--version` and `doctor`; then `agent-runner upgrade` to a
// newer local tarball (package_upgraded) and to a broken one (smoke check fails, rolled back:
// service_upgrade_rolled_back). Run by scripts/ci/pack.sh; no network but the npm cache.
import t from 'tap';
import { openLedger } from '@agent-runner/core/ledger';
import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
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

function run(cmd: string, args: string[], opts: { cwd?: string; env?: Record<string, string | undefined>; timeoutMs?: number } = {}): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { cwd: opts.cwd ?? work, env: { ...process.env, ...opts.env }, encoding: 'utf8', timeout: opts.timeoutMs ?? 120_000, maxBuffer: 64 << 20 });
  return { code: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

// A project to run doctor and to receive the upgrade events, with its own HOME.
const home = join(work, 'home');
const proj = join(work, 'proj');
mkdirSync(home);
mkdirSync(proj);
writeFileSync(join(proj, 'agent-runner.toml'), 'project = "packdemo"\n[agent]\npreset = "generic"\ncommand = ["node", "agent.mjs"]\n[prompt]\nfile = "PROMPT.md"\n');
writeFileSync(join(proj, 'PROMPT.md'), 'work\n');
writeFileSync(join(proj, 'agent.mjs'), '');
run('git', ['init', '-q', '-b', 'main'], { cwd: proj });
const env = { HOME: home, XDG_STATE_HOME: undefined, XDG_CONFIG_HOME: undefined, npm_config_prefer_offline: 'true', npm_config_audit: 'false', npm_config_fund: 'false' };

function events(): Array<Record<string, unknown>> {
  const dir = join(home, '.local/state/agent-runner/packdemo/logs/events');
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((f) => readFileSync(join(dir, f), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>));
}

t.test('npm pack bundles the internal packages; npm install -g gives a working CLI', async (t) => {
  const packed = run(join(ROOT, 'scripts/pack-cli.sh'), [work], { timeoutMs: 300_000 });
  t.equal(packed.code, 0, packed.stderr);
  const tarball = packed.stdout.trim().split('\n').pop() ?? '';
  t.match(tarball, new RegExp(`agent-runner-${VERSION.replace(/\./g, '\\.')}\\.tgz$`));
  const list = run('tar', ['tzf', tarball]).stdout;
  for (const p of ['core', 'runner', 'bridge', 'monitor', 'watchdog']) t.match(list, `package/node_modules/@agent-runner/${p}/dist/`, `@agent-runner/${p} is bundled`);
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
  t.same(mismatchedDeps(join(pkgDir, 'node_modules'), join(ROOT, 'node_modules')), [], 'every bundled package resolves the versions it resolves in the workspace');
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
  return readdirSync(nm).filter((n) => !n.startsWith('.')).flatMap((n) => (n.startsWith('@') ? readdirSync(join(nm, n)).map((m) => `${n}/${m}`) : [n])).filter((n) => existsSync(join(nm, n, 'package.json')));
}

/** A tarball of the installed package with another version (and optionally a broken CLI). */
function variant(version: string, broken: boolean): string {
  const stage = join(work, `stage-${version}`);
  cpSync(pkgDir, join(stage, 'package'), { recursive: true, verbatimSymlinks: true });
  for (const f of ['package/package.json', 'package/node_modules/@agent-runner/core/package.json']) {
    const p = join(stage, f);
    const j = JSON.parse(readFileSync(p, 'utf8')) as { version: string };
    j.version = version;
    writeFileSync(p, JSON.stringify(j, null, 2));
  }
  if (broken) writeFileSync(join(stage, 'package/dist/bin.js'), 'throw new Error("this build is broken");\n');
  const out = join(work, `agent-runner-${version}.tgz`);
  // The compiled native modules travel in this tarball: installs below skip install scripts.
  t.equal(run('tar', ['czf', out, '-C', stage, 'package']).code, 0);
  return out;
}

t.test('upgrade --no-restart to a newer tarball: package_upgraded', async (t) => {
  const good = variant(`${VERSION}-up.1`, false);
  const r = run(bin, ['upgrade', '--target', good, '--no-restart'], { cwd: proj, env: { ...env, npm_config_ignore_scripts: 'true' }, timeoutMs: 600_000 });
  t.equal(r.code, 0, r.stderr + r.stdout);
  t.match(r.stdout, new RegExp(`upgraded the package ${VERSION} -> ${VERSION}-up\\.1`));
  t.match(r.stdout, /agent-runner restart/);
  t.equal(run(bin, ['--version'], { cwd: proj, env }).stdout.trim(), `${VERSION}-up.1`);
  const e = events().find((x) => x['kind'] === 'package_upgraded');
  t.match(e, { unit: 'cli', from_version: VERSION, to_version: `${VERSION}-up.1`, method: 'npm' });
});

t.test('upgrade to a broken tarball: smoke check fails, the previous version is restored', async (t) => {
  const ledgerPath = join(home, '.local/state/agent-runner/packdemo/ledger.sqlite3');
  openLedger(ledgerPath).close();
  const bad = variant(`${VERSION}-up.2`, true);
  const r = run(bin, ['upgrade', '--target', bad, '--no-restart'], { cwd: proj, env: { ...env, npm_config_ignore_scripts: 'true' }, timeoutMs: 600_000 });
  t.equal(r.code, 75, r.stderr + r.stdout);
  t.match(r.stderr, /smoke|--version` failed/);
  t.match(r.stderr, new RegExp(`rolled back to ${VERSION}-up\\.1`));
  t.equal(run(bin, ['--version'], { cwd: proj, env }).stdout.trim(), `${VERSION}-up.1`, 'the previous version runs again');
  const d = JSON.parse(run(bin, ['doctor', '--json'], { cwd: proj, env }).stdout) as { checks: Array<{ name: string; status: string }> };
  t.equal(d.checks.find((c) => c.name === 'native:better-sqlite3')?.status, 'ok', 'native modules intact after the rollback');
  t.notOk(existsSync(join(prefix, 'lib/node_modules/.agent-runner-upgrade-backup')), 'no backup left behind');
  const e = events().find((x) => x['kind'] === 'service_upgrade_rolled_back');
  t.match(e, { from_version: `${VERSION}-up.1`, to_version: `${VERSION}-up.2` });
  t.match(String(e?.['reason']), /--version/);
  const q = run(bin, ['events', '--kind', 'package_upgraded,service_upgrade_rolled_back', '--json'], { cwd: proj, env });
  t.equal(q.code, 0, q.stderr);
  t.same(q.stdout.split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { kind: string }).kind), ['package_upgraded', 'service_upgrade_rolled_back'], 'agent-runner events shows the upgrade history');
  const ledger = openLedger(ledgerPath);
  t.teardown(() => ledger.close());
  const alarm = ledger.outbox.getOutbox(1);
  t.equal(alarm?.kind, 'upgrade_failed', 'the upgrade_failed alarm is queued for the bridge');
  t.match(alarm?.title, new RegExp(`^packdemo@.+: upgrade to ${VERSION}-up\\.2 failed, rolled back$`));
});

t.test('system units: upgrade stops them, upgrades, smoke-checks and restarts them (service_upgraded)', async (t) => {
  const sandbox = join(ROOT, 'scripts/systemd-sandbox.sh');
  const boot = run(sandbox, ['start', ROOT, work], { timeoutMs: 120_000 });
  t.equal(boot.code, 0, boot.stderr);
  const pid = boot.stdout.trim();
  t.teardown(() => void run(sandbox, ['stop', pid]));
  const root = (cmd: string): ReturnType<typeof run> => run(sandbox, ['exec', pid, 'sh', '-c', cmd], { timeoutMs: 600_000 });
  const userSh = (cmd: string): ReturnType<typeof run> => run(sandbox, ['user', pid, 'op', 'sh', '-c', cmd]);
  t.equal(root('useradd -m op').code, 0);
  writeFileSync(join(work, 'setup.sh'), [
    'set -e', 'mkdir -p ~/proj && cd ~/proj && git init -q -b main',
    `printf '%s\\n' 'project = "up"' '[agent]' 'preset = "generic"' 'command = ["node", "agent.mjs"]' 'prompt_delivery = "stdin"' '[agent.patterns]' 'result = ["^RESULT: "]' '[prompt]' 'file = "PROMPT.md"' '[runtime]' 'restart_delay_s = 1' '[vcs]' 'dirty_action = "ignore"' > agent-runner.toml`,
    `printf 'work\\n' > PROMPT.md`,
    `printf '%s\\n' 'setTimeout(() => console.log("RESULT: ok"), 300);' > agent.mjs`,
    'git add -A && git -c user.name=t -c user.email=t@e commit -qm init', '',
  ].join('\n'), { mode: 0o755 });
  t.equal(userSh(`bash ${work}/setup.sh`).code, 0);
  const inst = root(`cd /home/op/proj && SUDO_USER=op ${bin} install --system --now`);
  t.equal(inst.code, 0, inst.stderr);
  const show = (): string => root('systemctl show agent-runner@up.service -p ActiveState -p MainPID').stdout;
  const waitActive = (): boolean => {
    for (let i = 0; i < 120; i++) {
      if (/ActiveState=active/.test(show()) && /"runner": \{/.test(root(`cd /home/op/proj && ${bin} --system status --json`).stdout)) return true;
      spawnSync('sleep', ['0.5']);
    }
    return false;
  };
  t.ok(waitActive(), 'serve runs from the npm install');
  const before = show();
  const next = variant(`${VERSION}-up.3`, false);
  const up = root(`cd /home/op/proj && npm_config_ignore_scripts=true npm_config_prefer_offline=true ${bin} --system upgrade --target ${next}`);
  t.equal(up.code, 0, up.stderr + up.stdout);
  t.match(up.stderr, /stopping service\.\.\.\nagent-runner: stopped \(\d+\.\ds\)/);
  t.match(up.stdout, new RegExp(`upgraded \\S+ -> ${VERSION}-up\\.3; restarted agent-runner@up\\.target`));
  t.ok(waitActive(), 'serve runs again');
  t.not(show(), before, 'a new main process');
  const st = JSON.parse(root(`cd /home/op/proj && ${bin} --system status --json`).stdout) as { runner: { version: string } | null };
  t.equal(st.runner?.version, `${VERSION}-up.3`, 'the running serve is the new version');
  const ev = root(`cat /var/log/agent-runner/up/events/*.jsonl`).stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
  t.match(ev.find((e) => e['kind'] === 'service_upgraded'), { to_version: `${VERSION}-up.3`, units: ['agent-runner@up.service'] });
  t.equal(root(`find /var/log/agent-runner/up -not -user op | wc -l`).stdout.trim(), '0', 'root wrote no file the service user cannot append to');
});
