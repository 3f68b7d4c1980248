import { chownSync, existsSync, readdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, lstatSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { configPaths, loadConfig, findConfig } from '@agent-runner/core/config';
import { AgentRunnerError, EXIT, isErrno } from '@agent-runner/core/errors';
import { EventWriter, type EventKind, type EventPayload } from '@agent-runner/core/events';
import type { ServiceMode } from '@agent-runner/core/paths';
import { VERSION } from '@agent-runner/core/version';
import { clearAlarm, raiseAlarm, type AlarmFacts } from '@agent-runner/core/alarms';
import { openLedger } from '@agent-runner/core/ledger';
import type { CliContext, GlobalArgs } from '../context.js';
import { out, warn } from '../output.js';
import { currentUser, execCommand, systemctl, type ExecResult } from '../systemd.js';
import { installedProjects } from '../systemd-files.js';
import { parseMeta, targetDropInPath, unitDir, unitNames, type InstallMeta } from '../systemd-render.js';
import { detectInstall, exactVersion, installedVersion, npmSpec, type InstallKind } from '../upgrade-install.js';

/** Arguments of `agent-runner upgrade`. */
export interface UpgradeArgs extends GlobalArgs {
  target?: string | undefined;
  /** false with `--no-restart`: upgrade the package only, leave the services alone. */
  restart?: boolean | undefined;
}

type UpgradeEvent = 'service_upgraded' | 'package_upgraded' | 'service_upgrade_rolled_back' | 'service_upgrade_rollback_failed';

/** Where a project hears of an upgrade: its event stream and its ledger. */
interface Sink {
  dir: string;
  project: string;
  ledgerPath: string;
}

/** Event streams to report to: every installed project of the scope, else the cwd's project. */
function eventSinks(ctx: CliContext, args: UpgradeArgs, metas: InstallMeta[], scope: ServiceMode): Sink[] {
  const sinks: Sink[] = [];
  const add = (file: string): void => {
    try {
      const cfg = loadConfig(file, { env: { ...ctx.env, STATE_DIRECTORY: undefined, LOGS_DIRECTORY: undefined }, mode: scope, skipFileChecks: true });
      const paths = configPaths(cfg);
      if (!sinks.some((s) => s.dir === paths.eventsDir)) sinks.push({ dir: paths.eventsDir, project: cfg.project, ledgerPath: paths.ledgerPath });
    } catch {
      /* a project whose config is gone or unreadable gets no event */
    }
  };
  for (const m of metas) add(m.config);
  if (sinks.length === 0) {
    try {
      add(findConfig({ explicit: args.config, envPath: ctx.env['AGENT_RUNNER_CONFIG'], cwd: ctx.cwd }));
    } catch {
      /* upgrade runs fine outside any project */
    }
  }
  return sinks;
}

/** Appends one event to every sink; as root, hands a new day file to the state owner. */
function emitAll<K extends UpgradeEvent>(ctx: CliContext, sinks: Sink[], kind: K, payload: EventPayload<K & EventKind>): void {
  for (const s of sinks) {
    try {
      const w = new EventWriter({ dir: s.dir, project: s.project, unit: 'cli' });
      w.emit(kind, payload as never);
      w.close();
      if (currentUser().uid === 0) {
        const owner = statSync(dirname(s.dir));
        for (const f of readdirSync(s.dir)) {
          const p = join(s.dir, f);
          if (statSync(p).uid !== owner.uid) chownSync(p, owner.uid, owner.gid);
        }
        if (statSync(s.dir).uid !== owner.uid) chownSync(s.dir, owner.uid, owner.gid);
      }
    } catch (e) {
      warn(ctx, `event ${kind} not written to ${s.dir}: ${(e as Error).message}`);
    }
  }
}

/**
 * Raises (`facts` given) or clears (null) the `upgrade_failed` alarm in every sink's existing
 * ledger, so the bridge tells the human. As root, SQLite files this process created (-wal,
 * -shm) are handed to the ledger's owner, or the service could not open its ledger again.
 */
function alarmAll(ctx: CliContext, sinks: Sink[], facts: AlarmFacts | null, to: string): void {
  for (const s of sinks) {
    if (!existsSync(s.ledgerPath)) continue;
    try {
      const ledger = openLedger(s.ledgerPath);
      try {
        if (facts) raiseAlarm(ledger, 'upgrade_failed', facts, { project: s.project });
        else clearAlarm(ledger, 'upgrade_failed', { to }, { project: s.project });
      } finally {
        ledger.close();
      }
      if (currentUser().uid === 0) {
        const owner = statSync(s.ledgerPath);
        for (const f of [`${s.ledgerPath}-wal`, `${s.ledgerPath}-shm`]) if (existsSync(f) && statSync(f).uid !== owner.uid) chownSync(f, owner.uid, owner.gid);
      }
    } catch (e) {
      warn(ctx, `upgrade alarm not recorded in ${s.ledgerPath}: ${(e as Error).message}`);
    }
  }
}

function npmBin(execPath: string): string {
  const beside = join(dirname(execPath), 'npm');
  return existsSync(beside) ? beside : 'npm';
}

function tail(r: ExecResult): string {
  return (r.stderr.trim() || r.stdout.trim()).split('\n').slice(-5).join(' / ') || `exit ${r.code ?? r.signal}`;
}

/**
 * Smoke check of an installed CLI: `--version` runs (and equals `expect` when given) and the
 * install-level checks of `doctor --json` (node, native modules) pass.
 * @returns undefined when healthy, else what failed.
 */
export async function smokeCheck(node: string, pkgDir: string, expect: string | undefined, env: CliContext['env']): Promise<string | undefined> {
  const bin = join(pkgDir, 'bin', 'agent-runner.js');
  const v = await execCommand(node, [bin, '--version'], { env, timeoutMs: 60_000, cwd: pkgDir });
  if (v.code !== 0) return `\`agent-runner --version\` failed: ${tail(v)}`;
  const got = v.stdout.trim();
  if (expect && got !== expect) return `\`agent-runner --version\` says ${got}, expected ${expect}`;
  const d = await execCommand(node, [bin, 'doctor', '--json'], { env, timeoutMs: 60_000, cwd: pkgDir });
  try {
    const report = JSON.parse(d.stdout) as { checks: Array<{ name: string; status: string; detail: string }> };
    const bad = report.checks.filter((c) => (c.name === 'node' || c.name.startsWith('native:')) && c.status === 'fail');
    if (bad.length) return `doctor: ${bad.map((c) => `${c.name}: ${c.detail}`).join('; ')}`;
  } catch {
    // SyntaxError or TypeError: no report on stdout, so the new install is not healthy.
    return `\`agent-runner doctor --json\` did not run: ${tail(d)}`;
  }
  return undefined;
}

/** Reinstates the backup of a global install; makes sure the bin link points at it. */
function restoreGlobal(prefix: string, pkgDir: string, backup: string): void {
  rmSync(pkgDir, { recursive: true, force: true });
  renameSync(backup, pkgDir);
  const link = join(prefix, 'bin', 'agent-runner');
  let present: boolean;
  try {
    present = lstatSync(link).isSymbolicLink() || existsSync(link);
  } catch (e) {
    if (!isErrno(e, 'ENOENT')) throw e; // the rollback reports it
    present = false; // no link at all
  }
  if (!present) {
    mkdirSync(dirname(link), { recursive: true });
    symlinkSync('../lib/node_modules/agent-runner/bin/agent-runner.js', link);
  }
}

/**
 * `agent-runner upgrade [--target VERSION|SPEC] [--no-restart]`: upgrades agent-runner where it
 * is installed — a global npm install (`npm install -g --prefix <its prefix>`) or a git checkout
 * (`git checkout` + `npm ci`) — and smoke-checks the new version. With units installed in this
 * mode (user units; system units when run as root with --system) it stops them gracefully first
 * and starts them on the new version (`service_upgraded`); `--no-restart` or no units upgrades the
 * package only and prints the restart command (`package_upgraded`). A failed install or smoke
 * check restores the previous version, from a backup of the package directory (no registry
 * needed), and restarts it (`service_upgrade_rolled_back`, exit 75); a failed rollback leaves the
 * units stopped (`service_upgrade_rollback_failed`, exit 70). npm honours the operator's npm
 * config (registry, proxy): `npm config get registry` shows which index is used.
 * @throws AgentRunnerError ERR_AR_UPGRADE when the install kind is unknown.
 */
export async function upgrade(ctx: CliContext, args: UpgradeArgs): Promise<number> {
  const inst: InstallKind = detectInstall(ctx.binPath);
  if (inst.kind === 'unknown') {
    throw new AgentRunnerError('ERR_AR_UPGRADE', `cannot tell how agent-runner was installed (${inst.pkgDir} is neither <prefix>/lib/node_modules/agent-runner nor a checkout)`, {
      hint: 'Upgrade it the way it was installed (e.g. `npm install agent-runner@X` in that project), then `agent-runner restart`.',
    });
  }
  const from = VERSION;
  const scope = ctx.mode;
  const me = currentUser();
  const dir = unitDir(scope, ctx.env);
  const metas = installedProjects(dir)
    .map((p) => parseMeta(readFileSync(targetDropInPath(dir, p), 'utf8')))
    .filter((m): m is InstallMeta => m !== undefined);
  const manage = args.restart !== false && metas.length > 0 && (scope === 'user' || me.uid === 0);
  const targets = manage ? metas.map((m) => unitNames(m.project).target) : [];
  const units = manage ? metas.flatMap((m) => m.units) : [];
  const sinks = eventSinks(ctx, args, metas, scope);
  const sc = scope === 'user' ? ' --user' : '';
  const expect = exactVersion(args.target);
  const spec = npmSpec(args.target);

  if (manage) {
    warn(ctx, 'stopping service...');
    const t0 = Date.now();
    const r = await systemctl(scope, ['stop', ...targets, ...units], { env: ctx.env });
    if (r.code !== 0) throw new AgentRunnerError('ERR_AR_SYSTEMD', `systemctl${sc} stop failed: ${tail(r)}`);
    warn(ctx, `stopped (${((Date.now() - t0) / 1000).toFixed(1)}s)`);
  }

  // Install the new version, keeping a way back that needs no registry.
  let failure: string | undefined;
  let backup = '';
  let oldHead = '';
  if (inst.kind === 'npm-global') {
    backup = join(dirname(inst.pkgDir), `.agent-runner-upgrade-backup`);
    rmSync(backup, { recursive: true, force: true });
    renameSync(inst.pkgDir, backup);
    out(ctx, `installing ${spec} (npm, prefix ${inst.prefix})...`);
    const r = await execCommand(npmBin(ctx.execPath), ['install', '--global', '--prefix', inst.prefix, '--no-audit', '--no-fund', spec], { env: ctx.env, cwd: inst.prefix });
    if (r.code !== 0) failure = `npm install ${spec} failed: ${tail(r)}`;
  } else {
    const git = (...a: string[]): Promise<ExecResult> => execCommand('git', ['-C', inst.root, ...a], { env: ctx.env });
    const head = await git('rev-parse', 'HEAD');
    oldHead = head.stdout.trim();
    const dirty = await git('status', '--porcelain', '--untracked-files=no');
    if (head.code !== 0 || dirty.stdout.trim()) {
      failure = head.code !== 0 ? `not a usable git checkout: ${tail(head)}` : 'the checkout has local changes; commit or stash them first';
    } else {
      await git('fetch', '--tags', '--quiet');
      const co = args.target ? await git('checkout', '--quiet', '--detach', args.target.startsWith('v') || !expect ? args.target : `v${args.target}`) : await git('pull', '--ff-only', '--quiet');
      if (co.code !== 0) failure = `git ${args.target ? 'checkout' : 'pull'} failed: ${tail(co)}`;
      else {
        out(ctx, 'npm ci (builds every package)...');
        const ci = await execCommand(npmBin(ctx.execPath), ['ci', '--no-audit', '--no-fund'], { env: ctx.env, cwd: inst.root });
        if (ci.code !== 0) failure = `npm ci failed: ${tail(ci)}`;
      }
    }
  }
  const to = installedVersion(inst.pkgDir) ?? expect ?? args.target ?? 'latest';
  failure ??= await smokeCheck(ctx.execPath, inst.pkgDir, expect, ctx.env);

  if (!failure) {
    if (backup) rmSync(backup, { recursive: true, force: true });
    if (manage) {
      const r = await systemctl(scope, ['start', ...targets], { env: ctx.env });
      if (r.code !== 0) warn(ctx, `systemctl${sc} start failed: ${tail(r)}`);
      emitAll(ctx, sinks, 'service_upgraded', { from_version: from, to_version: to, units });
      alarmAll(ctx, sinks, null, to);
      out(ctx, `upgraded ${from} -> ${to}; restarted ${targets.join(', ')}`);
    } else {
      emitAll(ctx, sinks, 'package_upgraded', { from_version: from, to_version: to, method: inst.kind === 'npm-global' ? 'npm' : 'checkout' });
      alarmAll(ctx, sinks, null, to);
      out(ctx, `upgraded the package ${from} -> ${to}; running services keep the old code until restarted:`);
      const all = installedProjects(unitDir('system', ctx.env));
      for (const p of all) out(ctx, `  sudo systemctl restart ${unitNames(p).target}`);
      for (const m of metas) if (scope === 'user') out(ctx, `  systemctl --user restart ${unitNames(m.project).target}`);
      if (all.length + metas.length === 0) out(ctx, '  agent-runner restart   (in each project)');
    }
    return 0;
  }

  warn(ctx, `upgrade to ${to} failed: ${failure}; rolling back to ${from}`);
  let rollbackError: string | undefined;
  try {
    if (inst.kind === 'npm-global') restoreGlobal(inst.prefix, inst.pkgDir, backup);
    else if (oldHead) {
      const co = await execCommand('git', ['-C', inst.root, 'checkout', '--quiet', '--detach', oldHead], { env: ctx.env });
      if (co.code !== 0) throw new Error(`git checkout ${oldHead} failed: ${tail(co)}`);
      const ci = await execCommand(npmBin(ctx.execPath), ['ci', '--no-audit', '--no-fund'], { env: ctx.env, cwd: inst.root });
      if (ci.code !== 0) throw new Error(`npm ci failed: ${tail(ci)}`);
    }
    const again = await smokeCheck(ctx.execPath, inst.pkgDir, from, ctx.env);
    if (again) throw new Error(`the restored version fails its smoke check: ${again}`);
  } catch (e) {
    rollbackError = (e as Error).message;
  }
  if (rollbackError) {
    emitAll(ctx, sinks, 'service_upgrade_rollback_failed', { from_version: from, to_version: to, reason: failure.slice(0, 2000), rollback_error: rollbackError.slice(0, 2000) });
    alarmAll(ctx, sinks, { from, to, rolled_back: false, detail: `${failure}\nrollback: ${rollbackError}`.slice(0, 2000) }, to);
    warn(ctx, `ROLLBACK FAILED: ${rollbackError}`);
    warn(ctx, `the services are stopped. Reinstall a known-good version: npm install -g agent-runner@${from}, then agent-runner start`);
    return EXIT.SOFTWARE;
  }
  if (manage) {
    const r = await systemctl(scope, ['start', ...targets], { env: ctx.env });
    if (r.code !== 0) warn(ctx, `systemctl${sc} start failed: ${tail(r)}`);
  }
  emitAll(ctx, sinks, 'service_upgrade_rolled_back', { from_version: from, to_version: to, reason: failure.slice(0, 2000) });
  alarmAll(ctx, sinks, { from, to, rolled_back: true, detail: failure.slice(0, 2000) }, to);
  warn(ctx, `rolled back to ${from}${manage ? `; restarted ${targets.join(', ')}` : ''}`);
  return EXIT.TEMPFAIL;
}
