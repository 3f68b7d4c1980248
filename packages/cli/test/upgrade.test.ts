import t, { type Test } from 'tap';
import {
  closeSync,
  createWriteStream,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  realpathSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { isAgentRunnerError } from '@agent-runner/core/errors';
import { VERSION } from '@agent-runner/core/version';
import type { CliContext } from '../src/context.js';
import { detectInstall, exactVersion, npmSpec } from '../src/upgrade-install.js';
import { globalLayout, restoreGlobal, runWithProgress, smokeCheck, switchGlobal } from '../src/upgrade-steps.js';
import { upgrade } from '../src/commands/upgrade.js';

const CLI_DIR = fileURLToPath(new URL('..', import.meta.url)).replace(/\/$/, '');

function tmp(t: Test, name: string): string {
  const d = mkdtempSync(join(tmpdir(), `ar-${name}-`));
  t.teardown(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

/** A context whose stdout and stderr are collected; `execPath` may point at a fake npm's directory. */
function ctx(over: Partial<CliContext> = {}): { c: CliContext; out: () => string; err: () => string } {
  let out = '';
  let err = '';
  const stdout = new PassThrough().setEncoding('utf8');
  const stderr = new PassThrough().setEncoding('utf8');
  stdout.on('data', (d: string) => (out += d));
  stderr.on('data', (d: string) => (err += d));
  const c = {
    env: { PATH: process.env['PATH'], HOME: tmpdir() },
    cwd: tmpdir(),
    stdout,
    stderr,
    stdoutIsTTY: false,
    mode: 'user',
    execPath: process.execPath,
    monoMs: () => performance.now(),
    signal: new AbortController().signal,
    ...over,
  } as CliContext;
  return { c, out: () => out, err: () => err };
}

t.test('detectInstall tells a global npm install, a checkout and anything else apart', async (t) => {
  const d = tmp(t, 'up');
  t.same(detectInstall(join(d, 'usr/lib/node_modules/agent-runner/dist/bin.js')), {
    kind: 'npm-global',
    prefix: join(d, 'usr'),
    pkgDir: join(d, 'usr/lib/node_modules/agent-runner'),
  });
  const co = join(d, 'co');
  mkdirSync(join(co, '.git'), { recursive: true });
  writeFileSync(join(co, 'package.json'), JSON.stringify({ workspaces: ['packages/cli'] }));
  t.same(detectInstall(join(co, 'packages/cli/dist/bin.js')), { kind: 'checkout', root: co, pkgDir: join(co, 'packages/cli') });
  t.equal(
    detectInstall(join(d, 'proj/node_modules/agent-runner/dist/bin.js')).kind,
    'unknown',
    'a project-local install is not ours to upgrade',
  );
  t.equal(detectInstall(join(CLI_DIR, 'dist/bin.js')).kind, 'checkout', 'this repository is a checkout');
});

t.test('npmSpec and exactVersion', async (t) => {
  t.equal(npmSpec(undefined, '/w'), 'agent-runner@latest');
  t.equal(npmSpec('0.2.0', '/w'), 'agent-runner@0.2.0');
  t.equal(npmSpec('next', '/w'), 'agent-runner@next');
  t.equal(npmSpec('/tmp/agent-runner-0.2.0.tgz', '/w'), '/tmp/agent-runner-0.2.0.tgz');
  t.equal(npmSpec('./agent-runner-0.2.0.tgz', '/w'), '/w/agent-runner-0.2.0.tgz', "a relative tarball is the operator's, not the prefix's");
  t.equal(npmSpec('agent-runner-0.2.0.tgz', '/w'), '/w/agent-runner-0.2.0.tgz');
  t.equal(npmSpec('../build', '/w/x'), '/w/build');
  t.equal(npmSpec('user/agent-runner', '/w'), 'user/agent-runner', 'a GitHub shorthand stays one');
  t.equal(npmSpec('https://example.org/agent-runner-0.2.0.tgz', '/w'), 'https://example.org/agent-runner-0.2.0.tgz');
  t.equal(exactVersion('v0.2.0'), '0.2.0');
  t.equal(exactVersion('agent-runner@1.2.3-rc.1'), '1.2.3-rc.1');
  t.equal(exactVersion('latest'), undefined);
  t.equal(exactVersion('/tmp/x.tgz'), undefined);
});

t.test('smokeCheck runs the installed CLI: version and native modules', async (t) => {
  const env = { PATH: process.env['PATH'], HOME: tmpdir() };
  t.equal(await smokeCheck(process.execPath, CLI_DIR, undefined, env), undefined, 'this build passes');
  t.match(await smokeCheck(process.execPath, CLI_DIR, '9.9.9', env), /says \d+\.\d+\.\d+, expected 9\.9\.9/);
  const broken = tmp(t, 'broken');
  mkdirSync(join(broken, 'bin'));
  writeFileSync(join(broken, 'bin/agent-runner.js'), 'throw new Error("broken build")\n');
  t.match(await smokeCheck(process.execPath, broken, undefined, env), /`agent-runner --version` failed/);
});

t.test('runWithProgress: a line every interval off a terminal; on a terminal the command writes to it itself', async (t) => {
  const piped = ctx();
  const r = await runWithProgress(piped.c, 'sh', ['-c', 'sleep 0.5; echo done; echo oops >&2; exit 3'], {
    cwd: tmpdir(),
    label: 'installing x into staging',
    everyMs: 100,
  });
  t.match(r, { code: 3, stdout: 'done\n', stderr: 'oops\n', shown: false });
  const lines = piped.out().split('\n').filter(Boolean);
  t.ok(lines.length >= 3, `progress lines: ${JSON.stringify(lines)}`);
  for (const l of lines) t.match(l, /^installing x into staging: \d+ s\.\.\.$/);
  const quick = ctx();
  await runWithProgress(quick.c, 'true', [], { cwd: tmpdir(), label: 'x' });
  t.equal(quick.out(), '', 'no line for a command that ends first');

  const d = tmp(t, 'tty');
  const fd = openSync(join(d, 'out'), 'w');
  const fdErr = openSync(join(d, 'err'), 'w');
  const term = ctx({
    stdoutIsTTY: true,
    stdout: createWriteStream('', { fd, autoClose: false }),
    stderr: createWriteStream('', { fd: fdErr, autoClose: false }),
  });
  const s = await runWithProgress(term.c, 'sh', ['-c', 'echo progress; echo bar >&2'], { cwd: tmpdir(), label: 'x', everyMs: 10 });
  closeSync(fd);
  closeSync(fdErr);
  t.match(s, { code: 0, stdout: '', shown: true });
  t.equal(readFileSync(join(d, 'out'), 'utf8'), 'progress\n', "the command's own output, no progress lines of ours");
  t.equal(readFileSync(join(d, 'err'), 'utf8'), 'bar\n');
});

/** `<root>/lib/node_modules/agent-runner` holding a fake CLI of `version` (broken: its bin throws). */
function fakePackage(dir: string, version: string, broken = false): string {
  mkdirSync(join(dir, 'bin'), { recursive: true });
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'agent-runner', version, type: 'module' }));
  writeFileSync(
    join(dir, 'bin/agent-runner.js'),
    broken
      ? 'throw new Error("this build is broken");\n'
      : `if (process.argv[2] === '--version') console.log(${JSON.stringify(version)});\nelse console.log(JSON.stringify({ checks: [{ name: 'node', status: 'ok', detail: '' }] }));\n`,
  );
  return dir;
}

t.test('switchGlobal swaps by rename; restoreGlobal puts the previous one back; the bin link is kept', async (t) => {
  const prefix = tmp(t, 'switch');
  const live = fakePackage(join(prefix, 'lib/node_modules/agent-runner'), '1.0.0');
  mkdirSync(join(prefix, 'bin'));
  symlinkSync('../lib/node_modules/agent-runner/bin/agent-runner.js', join(prefix, 'bin/agent-runner'));
  const lay = globalLayout(live);
  t.same(lay, {
    stagePrefix: join(prefix, 'lib/node_modules/.agent-runner-staging'),
    staged: join(prefix, 'lib/node_modules/.agent-runner-staging/lib/node_modules/agent-runner'),
    backup: join(prefix, 'lib/node_modules/.agent-runner-upgrade-backup'),
  });
  t.throws(() => switchGlobal(prefix, live, lay), { code: 'ENOENT' }, 'nothing staged');
  t.equal(
    JSON.parse(readFileSync(join(live, 'package.json'), 'utf8')).version,
    '1.0.0',
    'a failed switch leaves the live package in place',
  );
  fakePackage(lay.staged, '2.0.0');
  const ino = statSync(lay.staged).ino;
  switchGlobal(prefix, live, lay);
  t.equal(statSync(live).ino, ino, 'the staged directory itself became the live one (no copy)');
  t.equal(
    JSON.parse(readFileSync(join(realpathSync(join(prefix, 'bin/agent-runner')), '../../package.json'), 'utf8')).version,
    '2.0.0',
    'the bin link leads to the new version',
  );
  t.equal(JSON.parse(readFileSync(join(lay.backup, 'package.json'), 'utf8')).version, '1.0.0');
  rmSync(join(prefix, 'bin/agent-runner'));
  restoreGlobal(prefix, live, lay.backup);
  t.equal(JSON.parse(readFileSync(join(live, 'package.json'), 'utf8')).version, '1.0.0');
  t.notOk(existsSync(lay.backup));
  t.equal(
    readlinkSync(join(prefix, 'bin/agent-runner')),
    '../lib/node_modules/agent-runner/bin/agent-runner.js',
    'a lost bin link is made again',
  );
});

/** A global install of a fake CLI in a temp prefix, and a fake npm beside a node that installs a directory with `cp`. */
function fakeInstall(t: Test): { prefix: string; live: string; binDir: string; home: string; proj: string } {
  const d = tmp(t, 'upgrade');
  const prefix = join(d, 'prefix');
  const live = fakePackage(join(prefix, 'lib/node_modules/agent-runner'), VERSION);
  const binDir = join(d, 'node-bin');
  mkdirSync(binDir);
  symlinkSync(process.execPath, join(binDir, 'node'));
  // npm install --global --prefix P --no-audit --no-fund SPEC
  writeFileSync(
    join(binDir, 'npm'),
    '#!/bin/sh\necho "$@" >> "$(dirname "$0")/npm.log"\nmkdir -p "$4/lib/node_modules" && cp -r "$7" "$4/lib/node_modules/agent-runner"\n',
    { mode: 0o755 },
  );
  const home = join(d, 'home');
  const proj = join(d, 'proj');
  mkdirSync(home);
  mkdirSync(proj);
  writeFileSync(
    join(proj, 'agent-runner.toml'),
    'project = "updemo"\n[agent]\npreset = "generic"\ncommand = ["true"]\n[prompt]\nfile = "PROMPT.md"\n',
  );
  writeFileSync(join(proj, 'PROMPT.md'), 'work\n');
  return { prefix, live, binDir, home, proj };
}

function upgradeCtx(f: ReturnType<typeof fakeInstall>): ReturnType<typeof ctx> {
  return ctx({
    env: { PATH: process.env['PATH'], HOME: f.home },
    cwd: f.proj,
    execPath: join(f.binDir, 'node'),
    binPath: join(f.live, 'dist/bin.js'),
  });
}

function events(home: string): Array<Record<string, unknown>> {
  const dir = join(home, '.local/state/agent-runner/updemo/logs/events');
  return existsSync(dir)
    ? readdirSync(dir).flatMap((f) =>
        readFileSync(join(dir, f), 'utf8')
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l) as Record<string, unknown>),
      )
    : [];
}

t.test('upgrade of a global install: staged beside the live package, smoke-checked there, then switched', async (t) => {
  const f = fakeInstall(t);
  const next = fakePackage(join(f.home, 'next'), '9.0.0');
  const c = upgradeCtx(f);
  t.equal(await upgrade(c.c, { target: next, restart: false }), 0, c.err());
  t.equal(JSON.parse(readFileSync(join(f.live, 'package.json'), 'utf8')).version, '9.0.0');
  t.match(
    readFileSync(join(f.binDir, 'npm.log'), 'utf8'),
    `install --global --prefix ${join(f.prefix, 'lib/node_modules/.agent-runner-staging')} --no-audit --no-fund ${next}`,
  );
  t.match(
    c.out(),
    new RegExp(
      `^staging .+ in .+/\\.agent-runner-staging \\(npm; ${VERSION} keeps running\\)\\.\\.\\.\\nsmoke check of 9\\.0\\.0 in staging\\.\\.\\.\\nstaged 9\\.0\\.0: smoke check passed\\nswitched ${f.live} to 9\\.0\\.0\\nupgraded the package ${VERSION} -> 9\\.0\\.0`,
    ),
  );
  t.same(readdirSync(join(f.prefix, 'lib/node_modules')), ['agent-runner'], 'no staging or backup left');
  t.match(events(f.home), [{ kind: 'package_upgraded', from_version: VERSION, to_version: '9.0.0', method: 'npm' }]);
});

t.test('a failed staging install or smoke check leaves the running version untouched: ERR_AR_UPGRADE, 75', async (t) => {
  const f = fakeInstall(t);
  const ino = statSync(f.live).ino;
  const broken = fakePackage(join(f.home, 'broken'), '9.0.1', true);
  const c = upgradeCtx(f);
  const e = await upgrade(c.c, { target: broken, restart: false }).then(
    () => undefined,
    (x: unknown) => x,
  );
  t.ok(isAgentRunnerError(e), String(e));
  t.match(e, {
    code: 'ERR_AR_UPGRADE',
    exitCode: 75,
    message: /^upgrade to 9\.0\.1 failed in staging, before anything was stopped: `agent-runner --version` failed: .*this build is broken/,
  });
  t.match((e as Error & { hint: string }).hint, new RegExp(`${VERSION} was not touched and keeps running`));
  t.equal(statSync(f.live).ino, ino, 'the live directory was not moved');
  t.equal(JSON.parse(readFileSync(join(f.live, 'package.json'), 'utf8')).version, VERSION);
  t.same(readdirSync(join(f.prefix, 'lib/node_modules')), ['agent-runner'], 'the staging prefix is removed');
  const ev = events(f.home);
  t.match(ev, [{ kind: 'service_upgrade_rolled_back', from_version: VERSION, to_version: '9.0.1', reason: /--version/ }]);
  t.notOk('downtime_s' in (ev[0] ?? {}), 'no units managed: no downtime figure');

  writeFileSync(join(f.binDir, 'npm'), '#!/bin/sh\necho "npm ERR! 404 agent-runner@9.9.9 is not in this registry" >&2\nexit 1\n', {
    mode: 0o755,
  });
  const e404 = await upgrade(c.c, { target: '9.9.9', restart: false }).then(
    () => undefined,
    (x: unknown) => x,
  );
  t.match(e404, {
    code: 'ERR_AR_UPGRADE',
    message: /^upgrade to 9\.9\.9 failed in staging, before anything was stopped: npm install agent-runner@9\.9\.9 failed: npm ERR! 404/,
  });
  t.equal(statSync(f.live).ino, ino);
});
