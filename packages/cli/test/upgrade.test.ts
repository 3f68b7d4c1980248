import t from 'tap';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { detectInstall, exactVersion, npmSpec } from '../src/upgrade-install.js';
import { smokeCheck } from '../src/commands/upgrade.js';

const CLI_DIR = fileURLToPath(new URL('..', import.meta.url)).replace(/\/$/, '');

t.test('detectInstall tells a global npm install, a checkout and anything else apart', async (t) => {
  const d = mkdtempSync(join(tmpdir(), 'ar-up-'));
  t.teardown(() => rmSync(d, { recursive: true, force: true }));
  t.same(detectInstall(join(d, 'usr/lib/node_modules/agent-runner/dist/bin.js')), { kind: 'npm-global', prefix: join(d, 'usr'), pkgDir: join(d, 'usr/lib/node_modules/agent-runner') });
  const co = join(d, 'co');
  mkdirSync(join(co, '.git'), { recursive: true });
  writeFileSync(join(co, 'package.json'), JSON.stringify({ workspaces: ['packages/cli'] }));
  t.same(detectInstall(join(co, 'packages/cli/dist/bin.js')), { kind: 'checkout', root: co, pkgDir: join(co, 'packages/cli') });
  t.equal(detectInstall(join(d, 'proj/node_modules/agent-runner/dist/bin.js')).kind, 'unknown', 'a project-local install is not ours to upgrade');
  t.equal(detectInstall(join(CLI_DIR, 'dist/bin.js')).kind, 'checkout', 'this repository is a checkout');
});

t.test('npmSpec and exactVersion', async (t) => {
  t.equal(npmSpec(undefined), 'agent-runner@latest');
  t.equal(npmSpec('0.2.0'), 'agent-runner@0.2.0');
  t.equal(npmSpec('next'), 'agent-runner@next');
  t.equal(npmSpec('/tmp/agent-runner-0.2.0.tgz'), '/tmp/agent-runner-0.2.0.tgz');
  t.equal(exactVersion('v0.2.0'), '0.2.0');
  t.equal(exactVersion('agent-runner@1.2.3-rc.1'), '1.2.3-rc.1');
  t.equal(exactVersion('latest'), undefined);
  t.equal(exactVersion('/tmp/x.tgz'), undefined);
});

t.test('smokeCheck runs the installed CLI: version and native modules', async (t) => {
  const env = { PATH: process.env['PATH'], HOME: tmpdir() };
  t.equal(await smokeCheck(process.execPath, CLI_DIR, undefined, env), undefined, 'this build passes');
  t.match(await smokeCheck(process.execPath, CLI_DIR, '9.9.9', env), /says \d+\.\d+\.\d+, expected 9\.9\.9/);
  const broken = mkdtempSync(join(tmpdir(), 'ar-broken-'));
  t.teardown(() => rmSync(broken, { recursive: true, force: true }));
  mkdirSync(join(broken, 'bin'));
  writeFileSync(join(broken, 'bin/agent-runner.js'), 'throw new Error("broken build")\n');
  t.match(await smokeCheck(process.execPath, broken, undefined, env), /`agent-runner --version` failed/);
});
