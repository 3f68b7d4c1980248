// End-to-end against a real systemd 252 (scripts/systemd-sandbox.sh): install --system as root
// for an unprivileged user, rounds in the journal with priorities, stop / restart / kill, a crash
// restarted by systemd, exit 78 and the clean stops not restarted, uninstall leaving nothing;
// then the same in user mode with linger. Run by scripts/ci/systemd.sh (needs root).
import t, { type Test } from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { until } from '@agent-runner/testkit/until';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url)).replace(/\/$/, '');
const SANDBOX = join(ROOT, 'scripts/systemd-sandbox.sh');
const CLI = `node ${ROOT}/packages/cli/dist/bin.js`;
const USER = 'op';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function host(args: string[], input?: string): Run {
  const r = spawnSync(SANDBOX, args, { encoding: 'utf8', timeout: 180_000, ...(input !== undefined ? { input } : {}) });
  return { code: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

const share = mkdtempSync('/var/tmp/ar-sd-e2e-');
chmodSync(share, 0o755);
const started = host(['start', ROOT, share]);
if (started.code !== 0) throw new Error(`sandbox did not start: ${started.stderr}`);
const PID = started.stdout.trim();
t.teardown(() => {
  host(['stop', PID]);
  rmSync(share, { recursive: true, force: true });
});

/** Runs a shell command inside the sandbox as root. */
const root = (cmd: string): Run => host(['exec', PID, 'sh', '-c', cmd]);
/** Runs a shell command inside the sandbox as the unprivileged user, in its project. */
const op = (cmd: string): Run => host(['user', PID, USER, 'sh', '-c', `cd ~/proj && ${cmd}`]);

function sleepMs(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

type Scope = 'system' | 'user';
const sctl = (scope: Scope, args: string): Run => (scope === 'system' ? root(`systemctl ${args}`) : op(`systemctl --user ${args}`));
const jctl = (scope: Scope, args: string): Run => (scope === 'system' ? root(`journalctl ${args}`) : op(`journalctl --user ${args}`));
const cli = (scope: Scope, args: string): Run =>
  scope === 'system' ? root(`cd /home/${USER}/proj && ${CLI} --system ${args}`) : op(`${CLI} ${args}`);

function show(scope: Scope, unit = 'agent-runner@demo.service'): Record<string, string> {
  const r = sctl(scope, `show ${unit} -p ActiveState,SubState,MainPID,Result,ExecMainStatus,NRestarts`);
  return Object.fromEntries(
    r.stdout
      .trim()
      .split('\n')
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
}

/** Lines of the serve unit's journal as JSON records. */
function journal(scope: Scope): Array<{ MESSAGE: string; PRIORITY: string; _PID?: string }> {
  const r = jctl(scope, `-u agent-runner@demo.service -o json --no-pager`);
  return r.stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { MESSAGE: string; PRIORITY: string });
}
const roundsEnded = (scope: Scope): number =>
  journal(scope).filter((e) => typeof e.MESSAGE === 'string' && / ended: /.test(e.MESSAGE)).length;
const ctl = (file: string, value: string | null): Run =>
  value === null ? op(`rm -f ~/ctl/${file}`) : op(`printf '%s' '${value}' > ~/ctl/${file}`);

// The project: a git work tree with a fast fake agent, steered by files in ~/ctl.
const SETUP = String.raw`set -e
mkdir -p ~/ctl ~/proj && cd ~/proj
git init -q -b main
cat > agent.mjs <<'JS'
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
const ctl = process.env.HOME + '/ctl/';
const read = (f, d) => (existsSync(ctl + f) ? readFileSync(ctl + f, 'utf8').trim() : d);
const s = Number(read('sleep_s', '0.5'));
console.log('fake agent working for ' + s + 's');
setTimeout(() => {
  console.log('RESULT: ok');
  if (existsSync(ctl + 'done-next')) writeFileSync(process.env.AGENT_RUNNER_LOG_DIR + '/.agent-done', 'all done');
  process.exit(Number(read('exit_code', '0')));
}, s * 1000);
JS
printf 'Do the work.\n' > PROMPT.md
cat > agent-runner.toml <<'TOML'
project = "demo"
[agent]
preset = "generic"
command = ["node", "agent.mjs"]
prompt_delivery = "stdin"
terminal = "pipe"
[agent.patterns]
result = ["^RESULT: "]
[prompt]
file = "PROMPT.md"
[runtime]
restart_delay_s = 0.5
round_timeout_s = 30
[vcs]
dirty_action = "ignore"
[watchdog]
interval_s = 1
TOML
git add -A && git -c user.name=t -c user.email=t@e commit -qm init
`;
writeFileSync(join(share, 'setup.sh'), SETUP, { mode: 0o755 });
/** Rewrites the project's config: another prompt file (a missing one breaks it) and a round limit. */
function writeConfig(prompt = 'PROMPT.md', maxRounds?: number): Run {
  const toml = [
    'project = "demo"',
    '[agent]',
    'preset = "generic"',
    'command = ["node", "agent.mjs"]',
    'prompt_delivery = "stdin"',
    'terminal = "pipe"',
    '[agent.patterns]',
    'result = ["^RESULT: "]',
    '[prompt]',
    `file = "${prompt}"`,
    '[runtime]',
    'restart_delay_s = 0.5',
    'round_timeout_s = 30',
    ...(maxRounds ? [`max_rounds = ${maxRounds}`] : []),
    // The test edits the config in the work tree: the runner's git hygiene must not stash it.
    '[vcs]',
    'dirty_action = "ignore"',
    // A probe a second: each stay-stopped check below is 15 probes of the watchdog (system mode).
    '[watchdog]',
    'interval_s = 1',
  ].join('\n');
  writeFileSync(join(share, 'agent-runner.toml'), `${toml}\n`, { mode: 0o644 });
  return op(`cp ${share}/agent-runner.toml agent-runner.toml`);
}

/** Rows of a query on the project's ledger (read by root with the checkout's better-sqlite3). */
function ledgerRows(scope: Scope, sql: string): Array<Record<string, unknown>> {
  const file =
    scope === 'system' ? '/var/lib/agent-runner/demo/ledger.sqlite3' : `/home/${USER}/.local/state/agent-runner/demo/ledger.sqlite3`;
  const js = `const D=require(${JSON.stringify(`${ROOT}/node_modules/better-sqlite3`)});const db=new D(${JSON.stringify(file)},{readonly:true});process.stdout.write(JSON.stringify(db.prepare(${JSON.stringify(sql)}).all()))`;
  const r = host(['exec', PID, 'node', '-e', js]);
  return r.code === 0 ? (JSON.parse(r.stdout) as Array<Record<string, unknown>>) : [];
}

/** Heal actions the watchdog recorded (system mode installs it), or [] without a ledger. */
const healActions = (scope: Scope): Array<Record<string, unknown>> =>
  ledgerRows(scope, 'SELECT target, action, reason FROM heal_actions ORDER BY id');

/**
 * A unit that stopped on purpose stays stopped: in system mode the watchdog runs next to it
 * (15 of its probes), and takes no action on it.
 */
function staysStopped(t: Test, scope: Scope, state = 'inactive'): void {
  const before = healActions(scope).length;
  sleepMs(scope === 'system' ? 15_000 : 1500);
  t.equal(show(scope).ActiveState, state, 'not restarted');
  t.same(healActions(scope).slice(before), [], 'no heal action');
}

interface Status {
  running: boolean;
  ledger: { running_round: number | null; last_round: { status: string; started_at: string } | null } | null;
}
const status = (scope: Scope): Status => JSON.parse(cli(scope, 'status --json').stdout || '{}') as Status;
/** True once a round started after `sinceMs` is running (it sees the ctl files written before). */
const roundRunningFor = (scope: Scope, ms: number): boolean => {
  const l = status(scope).ledger?.last_round;
  return l?.status === 'running' && Date.now() - Date.parse(l.started_at) > ms;
};
const roundRunningSince = (scope: Scope, sinceMs: number): boolean => {
  const l = status(scope).ledger?.last_round;
  return l?.status === 'running' && Date.parse(l.started_at) > sinceMs;
};

t.test('setup: an unprivileged user with a project', async (t) => {
  t.equal(root(`useradd -m -s /bin/bash ${USER}`).code, 0);
  const r = host(['user', PID, USER, 'bash', `${share}/setup.sh`]);
  t.equal(r.code, 0, r.stderr);
});

function lifecycle(scope: Scope): void {
  t.test(`${scope}: rounds run and the journal shows them with priorities`, async (t) => {
    ctl('sleep_s', '0.5');
    const s = cli(scope, 'start');
    t.equal(s.code, 0, s.stderr);
    await until('two rounds ended', () => roundsEnded(scope) >= 2, 20_000, 250);
    const j = journal(scope);
    const serving = j.find((e) => /^serving demo/.test(e.MESSAGE));
    const ended = j.find((e) => / ended: ok/.test(e.MESSAGE));
    t.equal(serving?.PRIORITY, '5', 'serve start is notice (sd-daemon <5>)');
    t.equal(ended?.PRIORITY, '6', 'a round end is info (<6>)');
    t.notOk(
      j.some((e) => /^<\d>/.test(e.MESSAGE)),
      'the prefix is parsed, not printed',
    );
    const notice = jctl(scope, '-u agent-runner@demo.service -p notice --no-pager -o cat').stdout;
    t.match(notice, /serving demo/);
    t.notMatch(notice, / ended: ok/, '-p notice filters out info lines');
    const logs = cli(scope, 'logs -n 200 -o cat');
    t.equal(logs.code, 0, logs.stderr);
    t.match(logs.stdout, /round \d+ ended: ok/, 'agent-runner logs wraps journalctl');
    const warnings = cli(scope, 'logs -p warning -o cat');
    t.notMatch(warnings.stdout, /ended: ok/, 'logs -p warning leaves info lines out');
    const follow =
      scope === 'system'
        ? root(`cd /home/${USER}/proj && timeout --preserve-status -s INT 12 ${CLI} --system logs -f -n 3 -o cat`)
        : op(`timeout --preserve-status -s INT 12 ${CLI} logs -f -n 3 -o cat`);
    t.equal(follow.code, 0, `logs -f ends cleanly on SIGINT ${follow.stderr}`);
    t.match(follow.stdout, /ended: ok|serving demo/, 'logs -f prints the journal');
    const st = cli(scope, 'status --json');
    t.equal(st.code, 0, st.stderr);
    const rep = JSON.parse(st.stdout) as {
      manager: string;
      running: boolean;
      units: Array<{ unit: string; active_state: string; main_pid: number; since: string | null }>;
      ledger: { last_round: { round: number } | null };
    };
    t.equal(rep.manager, `systemd-${scope}`);
    t.equal(rep.running, true);
    t.equal(rep.units[0]?.active_state, 'active');
    t.equal(String(rep.units[0]?.main_pid), show(scope).MainPID, 'MainPID comes from systemd');
    t.ok(rep.units[0]?.since, 'since is set');
    t.ok((rep.ledger.last_round?.round ?? 0) >= 1, 'the ledger has rounds');
  });

  t.test(`${scope}: stop waits for the round and the unit ends inactive`, async (t) => {
    ctl('sleep_s', '3');
    const set = Date.now();
    await until('a 3 s round is running', () => roundRunningSince(scope, set + 100), 15_000, 250);
    const t0 = Date.now();
    const r = cli(scope, 'stop');
    const took = Date.now() - t0;
    t.equal(r.code, 0, r.stderr);
    t.match(r.stderr, /^agent-runner: stopping service\.\.\.\nagent-runner: stopped \(\d+\.\ds\)\n$/);
    t.ok(took > 500, `stop waited for the round (${took} ms)`);
    const st = show(scope);
    t.equal(st.ActiveState, 'inactive');
    t.equal(st.Result, 'success');
    const last = journal(scope)
      .filter((e) => / ended: /.test(e.MESSAGE))
      .pop();
    t.match(last?.MESSAGE ?? '', /ended: ok/, 'the round finished normally, not killed');
    const st2 = cli(scope, 'status');
    t.equal(st2.code, 3, 'status exits 3 when serve is not running');
  });

  t.test(`${scope}: restart gives a new main process`, async (t) => {
    ctl('sleep_s', '0.5');
    t.equal(cli(scope, 'start').code, 0);
    await until('the unit active', () => show(scope).ActiveState === 'active', 10_000, 250);
    const pid1 = show(scope).MainPID;
    const r = cli(scope, 'restart');
    t.equal(r.code, 0, r.stderr);
    await until('the unit active', () => show(scope).ActiveState === 'active', 10_000, 250);
    t.not(show(scope).MainPID, pid1);
  });

  t.test(`${scope}: kill interrupts the round and serve is not restarted`, async (t) => {
    await until('running (after restart)', () => show(scope).ActiveState === 'active', 10_000, 250);
    ctl('sleep_s', '30');
    // A round that began while the file was being written may already have read 30: instead
    // of "started after the write", wait for a round running longer than a 0.5 s round can.
    await until(
      () =>
        `a 30 s round running; status ${JSON.stringify(status(scope))}; journal:\n${journal(scope)
          .slice(-15)
          .map((e) => e.MESSAGE)
          .join('\n')}`,
      () => roundRunningFor(scope, 1500),
      15_000,
      250,
    );
    const t0 = Date.now();
    const r = cli(scope, 'kill');
    t.equal(r.code, 0, r.stderr);
    t.ok(Date.now() - t0 < 20_000, 'kill does not wait for the 30 s round');
    const st = show(scope);
    t.equal(st.ActiveState, 'inactive');
    t.equal(st.Result, 'success');
    t.match(
      journal(scope)
        .filter((e) => / ended: /.test(e.MESSAGE))
        .pop()?.MESSAGE ?? '',
      /killed \(operator\)/,
    );
    staysStopped(t, scope);
  });

  t.test(`${scope}: a crash of serve (SIGKILL) is restarted by systemd`, async (t) => {
    ctl('sleep_s', '0.5');
    t.equal(cli(scope, 'start').code, 0);
    await until('the unit active', () => show(scope).ActiveState === 'active', 10_000, 250);
    const pid = show(scope).MainPID;
    t.equal(root(`kill -9 ${pid}`).code, 0);
    await until('a restart is scheduled', () => show(scope).SubState === 'auto-restart', 5000, 250);
    await until('running again with a new pid', () => show(scope).ActiveState === 'active' && show(scope).MainPID !== pid, 20_000, 250);
    t.ok(Number(show(scope).NRestarts) >= 1);
  });

  t.test(`${scope}: a broken config (exit 78) is not restarted`, async (t) => {
    t.equal(writeConfig('MISSING.md').code, 0);
    const r = cli(scope, 'restart');
    t.not(r.code, null);
    await until(
      'failed or a restart scheduled',
      () => show(scope).ActiveState === 'failed' || show(scope).SubState === 'auto-restart',
      15_000,
      250,
    );
    const st = show(scope);
    t.equal(st.ActiveState, 'failed', 'failed, not auto-restarting');
    t.equal(st.ExecMainStatus, '78');
    staysStopped(t, scope, 'failed');
    t.equal(writeConfig().code, 0);
  });

  t.test(`${scope}: a config that does not parse: verbs still work, one err journal line, an alarm`, async (t) => {
    ctl('sleep_s', '0.5');
    const before = roundsEnded(scope);
    t.equal(cli(scope, 'start').code, 0);
    await until('running rounds (the config was loaded)', () => roundsEnded(scope) > before, 15_000, 250);
    const pid = show(scope).MainPID;
    const brokenAt = Date.now();
    t.equal(op(`printf 'project = "demo"\n[agent\n' > agent-runner.toml`).code, 0, 'TOML syntax error written');
    const rs = cli(scope, 'restart');
    t.equal(rs.code, 78, 'restart refuses');
    t.match(rs.stderr, /agent-runner\.toml:\d+:\d+: not restarting: invalid TOML/);
    t.equal(show(scope).MainPID, pid, 'the running serve was not stopped for a start that would fail');
    const st = cli(scope, 'status --json');
    t.equal(st.code, 0, `status works: ${st.stderr}`);
    const rep = JSON.parse(st.stdout) as { config_error?: string; units: Array<{ active_state: string }>; running: boolean };
    t.match(rep.config_error ?? '', /agent-runner\.toml:\d+/, 'status says the config is broken, with its location');
    t.equal(rep.running, true);
    t.equal(rep.units[0]?.active_state, 'active');
    // The operator restarts the unit anyway: it fails 78 with the reason in one journal entry at err.
    sctl(scope, 'restart agent-runner@demo.service');
    await until('failed (78)', () => show(scope).ActiveState === 'failed', 15_000, 250);
    t.equal(show(scope).ExecMainStatus, '78');
    const errs = jctl(scope, '-u agent-runner@demo.service -p err --no-pager -o cat')
      .stdout.split('\n')
      .filter((l) => /agent-runner: error:/.test(l));
    t.ok(
      errs.some((l) => /agent-runner\.toml:\d+.*\[ERR_AR_CONFIG_SYNTAX\].*hint:/.test(l)),
      `journalctl -p err shows the whole reason in one line: ${errs.join(' // ')}`,
    );
    const alarms = ledgerRows(
      scope,
      `SELECT kind, title FROM outbox WHERE kind = 'config_broken' AND transport IS NULL AND json_extract(payload, '$.phase') = 'alarm' AND created_at_ms >= ${brokenAt}`,
    );
    t.equal(alarms.length, 1, 'one config_broken alarm queued for the bridge');
    t.match(String(alarms[0]?.['title'] ?? ''), /^demo@.+: not started: config(uration)? broken/);
    const lg = cli(scope, 'logs -n 20 -o cat');
    t.equal(lg.code, 0, 'logs works');
    const sp = cli(scope, 'stop');
    t.equal(sp.code, 0, `stop works: ${sp.stderr}`);
    t.match(sp.stderr, /config does not load/);
    t.equal(writeConfig().code, 0);
    t.equal(cli(scope, 'start').code, 0, 'fixed: start works again');
    const recovered = (): number =>
      ledgerRows(
        scope,
        `SELECT id FROM outbox WHERE kind = 'config_broken' AND transport IS NULL AND json_extract(payload, '$.phase') = 'recovery' AND created_at_ms >= ${brokenAt}`,
      ).length;
    await until('the good start queues exactly one recovery', () => recovered() === 1, 15_000, 250);
    t.equal(cli(scope, 'stop').code, 0);
  });

  if (scope === 'system') {
    t.test('system: the service user finds the system state without --system; root-only verbs say sudo', async (t) => {
      t.equal(cli(scope, 'start').code, 0);
      await until('running', () => show(scope).ActiveState === 'active', 15_000, 250);
      await until('a round ended', () => roundsEnded(scope) >= 1, 20_000, 250);
      type Snap = { rounds: unknown[]; service: { state: string } };
      const peek = (): Snap | undefined => {
        const pk = op(`${CLI} peek --json`);
        return pk.code === 0 ? (JSON.parse(pk.stdout) as Snap) : undefined;
      };
      await until("peek as the service user sees the system unit's serve running", () => peek()?.service.state === 'running', 15_000, 250);
      t.ok((peek()?.rounds.length ?? 0) >= 1, 'and reads the rounds in /var/lib/agent-runner/demo');
      const sp = op(`${CLI} stop`);
      t.equal(sp.code, 77, 'a non-root stop of system units is refused by systemd');
      t.match(sp.stderr, /needs root[\s\S]*sudo agent-runner stop/);
      t.equal(show(scope).ActiveState, 'active', 'still running');
      t.equal(cli(scope, 'stop').code, 0, 'root stops it');
    });
  }

  t.test(`${scope}: max_rounds ends the unit without a restart`, async (t) => {
    t.equal(writeConfig('PROMPT.md', 2).code, 0);
    ctl('sleep_s', '0.2');
    t.equal(cli(scope, 'start').code, 0);
    await until('serve ended', () => ['inactive', 'failed'].includes(show(scope).ActiveState ?? ''), 20_000, 250);
    const st = show(scope);
    t.equal(st.ActiveState, 'inactive');
    t.equal(st.Result, 'success');
    t.equal(st.ExecMainStatus, '0');
    t.ok(journal(scope).some((e) => /stopped: max_rounds \(exit 0/.test(e.MESSAGE)));
    staysStopped(t, scope);
    t.equal(writeConfig().code, 0);
  });

  t.test(`${scope}: .agent-done ends the unit without a restart`, async (t) => {
    ctl('done-next', '1');
    t.equal(cli(scope, 'start').code, 0);
    await until('serve ended', () => show(scope).ActiveState === 'inactive', 20_000, 250);
    t.equal(show(scope).Result, 'success');
    t.ok(journal(scope).some((e) => /stopped: agent_done \(exit 0/.test(e.MESSAGE)));
    staysStopped(t, scope);
    ctl('done-next', null);
  });
}

const UNITS = [
  'agent-runner@demo.service',
  'agent-runner-bridge@demo.service',
  'agent-runner-watchdog@demo.service',
  'agent-runner-monitor@demo.service',
  'agent-runner@demo.target',
];

t.test('system: install --system as root for the sudo user', async (t) => {
  const refused = root(`cd /home/${USER}/proj && ${CLI} install --system`);
  t.equal(refused.code, 77, 'as root without SUDO_USER: refuses to run the agent as root');
  t.match(refused.stderr, /refusing to install units that run the agent as root/);
  const all = root(`cd /home/${USER}/proj && SUDO_USER=${USER} ${CLI} install --system --bridge --watchdog --monitor`);
  t.equal(all.code, 0, all.stderr);
  const v = root(`cd /etc/systemd/system && systemd-analyze verify ${UNITS.join(' ')} 2>&1`);
  t.equal(v.code, 0);
  t.equal(v.stdout.trim(), '', 'systemd-analyze verify: no warning on any rendered unit');
  // The rest of the system tests run next to the watchdog and the monitor, as an operator would.
  const again = root(`cd /home/${USER}/proj && SUDO_USER=${USER} ${CLI} install --system --watchdog --monitor`);
  t.equal(again.code, 0, again.stderr);
  t.notOk(
    root('ls -d /etc/systemd/system/agent-runner-bridge@demo.service.d').code === 0,
    'a unit dropped from the install loses its drop-in',
  );
  const u = root(
    'systemctl show agent-runner@demo.service -p User -p WorkingDirectory -p TimeoutStopUSec -p KillMode -p RestartPreventExitStatus',
  );
  t.match(u.stdout, new RegExp(`User=${USER}`));
  t.match(u.stdout, /WorkingDirectory=\/home\/op\/proj/);
  t.match(u.stdout, /KillMode=mixed/);
  t.match(u.stdout, /TimeoutStopUSec=1min 10s/, 'round_timeout_s 30 + kill_grace_s 10 + 30');
  t.match(u.stdout, /RestartPreventExitStatus=69 77 78/);
  t.equal(root('systemctl is-enabled agent-runner@demo.target').stdout.trim(), 'enabled');
});

lifecycle('system');

t.test('system: the state is where system mode puts it, owned by the user', async (t) => {
  const r = root(`stat -c '%U %a' /var/lib/agent-runner/demo /var/log/agent-runner/demo`);
  t.equal(r.stdout.trim(), `${USER} 700\n${USER} 700`);
});

t.test(
  'system: the four units together: 10 restarts of the target and an operator stop of serve, no heal action, no notification',
  async (t) => {
    const all = root(`cd /home/${USER}/proj && SUDO_USER=${USER} ${CLI} install --system --bridge --watchdog --monitor`);
    t.equal(all.code, 0, all.stderr);
    const services = UNITS.filter((u) => u.endsWith('.service'));
    const allActive = (): boolean => services.every((u) => show('system', u).ActiveState === 'active');
    const before = healActions('system').length;
    const maxOutbox = Number(ledgerRows('system', 'SELECT COALESCE(MAX(id), 0) AS m FROM outbox')[0]?.['m'] ?? 0);
    for (let i = 0; i < 10; i++) {
      t.equal(root('systemctl restart agent-runner@demo.target').code, 0, `restart ${i + 1}`);
      await until(`all four units active after restart ${i + 1}`, allActive, 30_000, 250);
    }
    sleepMs(5000); // five more probes after the last start
    t.same(healActions('system').slice(before), [], '0 heal actions');
    t.same(ledgerRows('system', `SELECT kind, title FROM outbox WHERE id > ${maxOutbox}`), [], '0 notifications of any kind');
    t.same(ledgerRows('system', "SELECT target FROM heal_state WHERE breaker = 'open'"), [], 'every breaker closed');
    t.equal(root('systemctl stop agent-runner@demo.service').code, 0, 'the operator stops serve alone');
    staysStopped(t, 'system');
    t.equal(show('system', 'agent-runner-watchdog@demo.service').ActiveState, 'active', 'with the watchdog running');
    t.equal(root('systemctl stop agent-runner@demo.target').code, 0);
  },
);

t.test('system: uninstall leaves nothing', async (t) => {
  const r = root(`cd /home/${USER}/proj && ${CLI} uninstall --system`);
  t.equal(r.code, 0, r.stderr);
  t.equal(root('find /etc/systemd/system -name "agent-runner*"').stdout.trim(), '', 'no unit file, drop-in or enable link');
  t.equal(root('systemctl list-units --all --no-legend "agent-runner*"').stdout.trim(), '', 'no unit loaded');
  t.equal(root(`pgrep -u ${USER} -f packages/cli/dist/bin.js`).stdout.trim(), '', 'no process left');
});

t.test('user: install enables linger and the user units', async (t) => {
  t.equal(root(`loginctl show-user ${USER} -p Linger --value 2>/dev/null || echo no`).stdout.trim(), 'no');
  const r = op(`${CLI} install`);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stderr, /enabled lingering for op/);
  t.equal(root(`loginctl show-user ${USER} -p Linger --value`).stdout.trim(), 'yes');
  const v = op(`cd ~/.config/systemd/user && systemd-analyze --user verify agent-runner@demo.service agent-runner@demo.target 2>&1`);
  t.equal(v.stdout.trim(), '', 'systemd-analyze --user verify: no warning');
  t.equal(op('systemctl --user is-enabled agent-runner@demo.target').stdout.trim(), 'enabled');
});

lifecycle('user');

t.test('user: uninstall leaves nothing and turns linger off again', async (t) => {
  const r = op(`${CLI} uninstall`);
  t.equal(r.code, 0, r.stderr);
  t.equal(op('find ~/.config/systemd/user -name "agent-runner*"').stdout.trim(), '', 'no unit file left');
  t.match(r.stdout, /disabled lingering/);
  await until('no process left', () => root(`pgrep -u ${USER} -f packages/cli/dist/bin.js`).stdout.trim() === '', 10_000, 250);
  t.not(root(`loginctl show-user ${USER} -p Linger --value 2>/dev/null`).stdout.trim(), 'yes');
});
