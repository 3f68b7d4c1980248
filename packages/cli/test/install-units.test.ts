import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TEMPLATES } from '../src/systemd-templates.js';
import { parseMeta, renderProject, renderTemplate, type RenderOptions } from '../src/systemd-render.js';
import { writeUnitFiles } from '../src/systemd-files.js';

const UNITS = fileURLToPath(new URL('../../../units/', import.meta.url));

t.test('units/ holds exactly the templates the CLI renders (AR_UPDATE_UNITS=1 rewrites them)', async (t) => {
  for (const tpl of Object.values(TEMPLATES)) {
    const file = join(UNITS, tpl.file);
    if (process.env['AR_UPDATE_UNITS'] === '1') writeFileSync(file, tpl.text);
    t.equal(readFileSync(file, 'utf8'), tpl.text, `${tpl.file} is in sync`);
  }
});

t.test('mode lines: system keeps ;system lines, user keeps ;user lines', async (t) => {
  const sys = renderTemplate(TEMPLATES.serve.text, 'system', { node: '/usr/bin/node', cli: '/opt/x y/bin.js' });
  const usr = renderTemplate(TEMPLATES.serve.text, 'user', { node: '/usr/bin/node', cli: '/opt/cli.js' });
  t.match(sys, /^Environment=AGENT_RUNNER_MODE=system$/m);
  t.match(sys, /^StateDirectory=agent-runner\/%i$/m);
  t.match(sys, /^ProtectSystem=full$/m);
  t.notMatch(sys, /^;/m, 'no mode marker survives');
  t.match(
    sys,
    /^ExecStart=\/usr\/bin\/node --optimize-for-size --expose-gc "\/opt\/x y\/bin.js" serve$/m,
    "a path with a space is quoted; serve's node options",
  );
  t.match(usr, /^Environment=AGENT_RUNNER_MODE=user$/m);
  t.notMatch(usr, /^(StateDirectory|ProtectSystem|PrivateTmp|User)=/m, 'user units carry no namespace hardening');
  t.match(usr, /^EnvironmentFile=-%h\/.config\/agent-runner\/%i.env$/m);
  // The restart contract, in every mode.
  for (const text of [sys, usr]) {
    t.match(text, /^Restart=on-failure$/m);
    t.match(text, /^RestartPreventExitStatus=69 77 78$/m);
    t.match(text, /^KillMode=mixed$/m);
    t.match(text, /^StartLimitIntervalSec=0$/m);
  }
  // Readiness and systemd's own watchdog, in every daemon's unit.
  for (const kind of ['serve', 'bridge', 'watchdog', 'monitor'] as const) {
    const text = renderTemplate(TEMPLATES[kind].text, 'system', { node: '/n', cli: '/c' });
    t.match(text, /^Type=notify$/m, `${kind}: Type=notify`);
    t.match(text, /^NotifyAccess=all$/m, `${kind}: systemd-notify, a child, may notify`);
    t.match(text, /^WatchdogSec=30$/m, `${kind}: WatchdogSec`);
    t.match(text, /^WatchdogSignal=SIGKILL$/m, `${kind}: a frozen daemon is killed at once`);
  }
});

function opts(mode: 'user' | 'system', over: Partial<RenderOptions> = {}): RenderOptions {
  return {
    mode,
    project: 'demo',
    node: process.execPath,
    cli: fileURLToPath(new URL('../dist/bin.js', import.meta.url)),
    configFile: '/srv/demo/agent-runner.toml',
    workDir: '/srv/demo',
    stateDir: '/var/lib/agent-runner/demo',
    writablePaths: ['/var/lib/agent-runner/demo'],
    stopTimeoutS: 100,
    path: '/usr/bin:/bin',
    ...(mode === 'system' ? { user: 'root', group: 'root' } : {}),
    bridge: true,
    watchdog: true,
    monitor: 'pi',
    ...over,
  };
}

t.test('every rendered unit passes systemd-analyze verify with no warning', async (t) => {
  for (const mode of ['system', 'user'] as const) {
    const dir = mkdtempSync(join(tmpdir(), 'ar-units-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const files = renderProject(opts(mode), { version: '0.1.0' });
    writeUnitFiles(dir, files);
    const units = [
      'agent-runner@demo.service',
      'agent-runner-bridge@demo.service',
      'agent-runner-watchdog@demo.service',
      'agent-runner-monitor@pi.service',
      'agent-runner@demo.target',
    ];
    let out: string;
    try {
      out = execFileSync('systemd-analyze', ['verify', ...units.map((u) => join(dir, u))], {
        env: { ...process.env, SYSTEMD_UNIT_PATH: `${dir}:`, SYSTEMD_LOG_LEVEL: 'warning' },
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      });
    } catch (e) {
      const err = e as { stderr?: string; stdout?: string };
      t.fail(`${mode}: systemd-analyze verify failed: ${err.stderr ?? ''}${err.stdout ?? ''}`);
      continue;
    }
    t.equal(out.trim(), '', `${mode}: no output`);
    // verify prints warnings on stderr and still exits 0: run again capturing stderr.
    const r = execFileSync('sh', ['-c', `systemd-analyze verify ${units.map((u) => `'${join(dir, u)}'`).join(' ')} 2>&1`], {
      env: { ...process.env, SYSTEMD_UNIT_PATH: `${dir}:` },
      encoding: 'utf8',
    });
    t.equal(r.trim(), '', `${mode}: no warnings (${r.trim()})`);
    const drop = readFileSync(join(dir, 'agent-runner@demo.service.d/50-agent-runner.conf'), 'utf8');
    t.match(drop, /^TimeoutStopSec=100$/m);
    t.match(drop, /^WorkingDirectory=\/srv\/demo$/m);
    t.match(
      readFileSync(join(dir, 'agent-runner-monitor@pi.service.d/50-agent-runner.conf'), 'utf8'),
      /AGENT_RUNNER_MONITOR_ARGS=--host pi/,
    );
    if (mode === 'system') t.match(drop, /^User=root$/m);
    else t.notMatch(drop, /^User=/m);
    const meta = parseMeta(readFileSync(join(dir, 'agent-runner@demo.target.d/50-agent-runner.conf'), 'utf8'));
    t.same(meta?.units, units.slice(0, 4), 'the target drop-in records the installed units');
    t.equal(meta?.config, '/srv/demo/agent-runner.toml');
  }
});

t.test('a path with % is escaped in drop-ins', async (t) => {
  const files = renderProject(opts('system', { workDir: '/srv/100%done' }), { version: '0.1.0' });
  const drop = files.find((f) => f.rel === 'agent-runner@demo.service.d/50-agent-runner.conf');
  t.match(drop?.text ?? '', /^WorkingDirectory=\/srv\/100%%done$/m);
});

t.test('PrivateTmp is turned off only when a path the unit needs lives under /tmp', async (t) => {
  const dropIn = (o: RenderOptions): string =>
    renderProject(o, { version: '0.1.0' }).find((f) => f.rel.startsWith('agent-runner@demo.service.d/'))?.text ?? '';
  t.notMatch(
    dropIn(opts('system', { cli: '/opt/agent-runner/bin.js' })),
    /PrivateTmp/,
    "a normal install keeps the template's PrivateTmp=yes",
  );
  t.match(
    dropIn(opts('system', { cli: '/tmp/checkout/packages/cli/dist/bin.js' })),
    /^PrivateTmp=no$/m,
    'a checkout under /tmp stays visible',
  );
  t.match(dropIn(opts('system', { workDir: '/var/tmp/work' })), /^PrivateTmp=no$/m);
});

t.test('the drop-ins name the project and its installed state directory (serve records a broken config there)', async (t) => {
  const files = renderProject(opts('user', { stateDir: '/home/op/.local/state/agent-runner/demo' }), { version: '0.1.0' });
  const serve = files.find((f) => f.rel.startsWith('agent-runner@demo.service.d/'))?.text ?? '';
  t.match(serve, /^Environment="AGENT_RUNNER_PROJECT=demo"$/m);
  t.match(serve, /^Environment="AGENT_RUNNER_STATE_DIR=\/home\/op\/\.local\/state\/agent-runner\/demo"$/m);
  const meta = parseMeta(files.find((f) => f.rel.startsWith('agent-runner@demo.target.d/'))?.text ?? '');
  t.equal(meta?.state_dir, '/home/op/.local/state/agent-runner/demo', 'the install metadata keeps it for `status`');
});
