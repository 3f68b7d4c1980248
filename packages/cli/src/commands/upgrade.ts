import { existsSync, readFileSync, rmSync } from 'node:fs';
import { AgentRunnerError, EXIT } from '@agent-runner/core/errors';
import type { ServiceMode } from '@agent-runner/core/paths';
import { VERSION } from '@agent-runner/core/version';
import type { CliContext } from '../context.js';
import { out, warn } from '../output.js';
import { currentUser, execCommand, systemctl, type ExecResult } from '../systemd.js';
import { installedProjects } from '../systemd-files.js';
import { parseMeta, targetDropInPath, unitDir, unitNames, type InstallMeta } from '../systemd-render.js';
import { detectInstall, exactVersion, installedVersion, npmSpec, type InstallKind } from '../upgrade-install.js';
import {
  alarmAll,
  emitAll,
  eventSinks,
  globalLayout,
  npmBin,
  restoreGlobal,
  runWithProgress,
  smokeCheck,
  switchGlobal,
  tail,
  waitUnitsUp,
  type Sink,
} from '../upgrade-steps.js';
import type { UpgradeArgs } from '../verbs/upgrade.js';

/** One upgrade: what it acts on and whom it tells. */
interface Run {
  ctx: CliContext;
  scope: ServiceMode;
  /** The live package directory (what the units' ExecStart and the bin link lead to). */
  pkgDir: string;
  from: string;
  expect: string | undefined;
  spec: string;
  target: string | undefined;
  /** True when this upgrade stops and starts the units. */
  manage: boolean;
  targets: string[];
  units: string[];
  metas: InstallMeta[];
  sinks: Sink[];
}

const sc = (r: Run): string => (r.scope === 'user' ? ' --user' : '');
const secondsSince = (r: Run, t0: number): number => Math.round((r.ctx.monoMs() - t0) / 100) / 10;

/** @throws AgentRunnerError ERR_AR_SYSTEMD when `systemctl stop` fails. */
async function stopUnits(r: Run): Promise<void> {
  out(r.ctx, 'stopping service...');
  const t0 = r.ctx.monoMs();
  const res = await systemctl(r.scope, ['stop', ...r.targets, ...r.units], { env: r.ctx.env });
  if (res.code !== 0) throw new AgentRunnerError('ERR_AR_SYSTEMD', `systemctl${sc(r)} stop failed: ${tail(res)}`);
  out(r.ctx, `stopped (${secondsSince(r, t0).toFixed(1)}s)`);
}

/** Starts the units; returns undefined once all are up, else what did not come up. */
async function startUnits(r: Run): Promise<string | undefined> {
  // The services by name too: systemctl then waits for each one's READY=1 or failure, where a
  // target's start job is done before the services it wants are.
  const res = await systemctl(r.scope, ['start', ...r.targets, ...r.units], { env: r.ctx.env });
  if (res.code !== 0) return `systemctl${sc(r)} start failed: ${tail(res)}`;
  return waitUnitsUp(r.ctx, r.scope, r.units);
}

/** Reports a finished upgrade (event, alarm cleared, the operator's lines); returns 0. */
function reportUpgraded(r: Run, to: string, method: 'npm' | 'checkout', downtimeS: number): number {
  const { ctx } = r;
  if (r.manage) {
    emitAll(ctx, r.sinks, 'service_upgraded', { from_version: r.from, to_version: to, units: r.units, downtime_s: downtimeS });
    alarmAll(ctx, r.sinks, null, to);
    out(ctx, `upgraded ${r.from} -> ${to}; restarted ${r.targets.join(', ')}; downtime ${downtimeS.toFixed(1)} s`);
    return 0;
  }
  emitAll(ctx, r.sinks, 'package_upgraded', { from_version: r.from, to_version: to, method });
  alarmAll(ctx, r.sinks, null, to);
  out(ctx, `upgraded the package ${r.from} -> ${to}; running services keep the old code until restarted:`);
  const all = installedProjects(unitDir('system', ctx.env));
  for (const p of all) out(ctx, `  sudo systemctl restart ${unitNames(p).target}`);
  for (const m of r.metas) if (r.scope === 'user') out(ctx, `  systemctl --user restart ${unitNames(m.project).target}`);
  if (all.length + r.metas.length === 0) out(ctx, '  agent-runner restart   (in each project)');
  return 0;
}

/**
 * After a failure past the point of no return (units stopped, or the package replaced): stops
 * what may run the new version, `restore`s the previous one, smoke-checks it and starts it.
 * `t0` is when the units were stopped. Returns 75 when rolled back, 70 when that failed too.
 */
async function rollBack(r: Run, to: string, failure: string, t0: number, restore: () => Promise<void>): Promise<number> {
  const { ctx } = r;
  warn(ctx, `upgrade to ${to} failed: ${failure}; rolling back to ${r.from}`);
  let rollbackError: string | undefined;
  try {
    if (r.manage) {
      // A new version that failed to start may be waiting to be restarted on the files about to go.
      const s = await systemctl(r.scope, ['stop', ...r.targets, ...r.units], { env: ctx.env });
      if (s.code !== 0) throw new Error(`systemctl${sc(r)} stop failed: ${tail(s)}`);
    }
    await restore();
    const again = await smokeCheck(ctx.execPath, r.pkgDir, r.from, ctx.env);
    if (again) throw new Error(`the restored version fails its smoke check: ${again}`);
    if (r.manage) {
      const up = await startUnits(r);
      if (up) throw new Error(`the restored ${r.from} did not come up: ${up}`);
    }
  } catch (e) {
    rollbackError = (e as Error).message;
  }
  if (rollbackError) {
    emitAll(ctx, r.sinks, 'service_upgrade_rollback_failed', {
      from_version: r.from,
      to_version: to,
      reason: failure.slice(0, 2000),
      rollback_error: rollbackError.slice(0, 2000),
    });
    alarmAll(ctx, r.sinks, { from: r.from, to, rolled_back: false, detail: `${failure}\nrollback: ${rollbackError}`.slice(0, 2000) }, to);
    warn(ctx, `ROLLBACK FAILED: ${rollbackError}`);
    warn(ctx, `the services are stopped. Reinstall a known-good version: npm install -g agent-runner@${r.from}, then agent-runner start`);
    return EXIT.SOFTWARE;
  }
  const downtimeS = secondsSince(r, t0);
  emitAll(ctx, r.sinks, 'service_upgrade_rolled_back', {
    from_version: r.from,
    to_version: to,
    reason: failure.slice(0, 2000),
    ...(r.manage ? { downtime_s: downtimeS } : {}),
  });
  alarmAll(ctx, r.sinks, { from: r.from, to, rolled_back: true, detail: failure.slice(0, 2000) }, to);
  warn(ctx, `rolled back to ${r.from}${r.manage ? `; restarted ${r.targets.join(', ')}; downtime ${downtimeS.toFixed(1)} s` : ''}`);
  return EXIT.TEMPFAIL;
}

/**
 * A global npm install: the new version is installed and smoke-checked in a staging prefix
 * beside the live package while the old one runs; only then stop, switch (rename(2)), start.
 */
async function upgradeStaged(r: Run, prefix: string): Promise<number> {
  const { ctx } = r;
  const lay = globalLayout(r.pkgDir);
  rmSync(lay.stagePrefix, { recursive: true, force: true });
  out(ctx, `staging ${r.spec} in ${lay.stagePrefix} (npm; ${r.from} keeps running)...`);
  const npm = await runWithProgress(
    ctx,
    npmBin(ctx.execPath),
    ['install', '--global', '--prefix', lay.stagePrefix, '--no-audit', '--no-fund', r.spec],
    {
      cwd: prefix,
      label: `installing ${r.spec} into staging`,
    },
  );
  let failure =
    npm.code === 0
      ? undefined
      : `npm install ${r.spec} failed: ${npm.shown ? `exit ${npm.code ?? npm.signal} (npm's output is above)` : tail(npm)}`;
  const to = installedVersion(lay.staged) ?? r.expect ?? r.target ?? 'latest';
  if (!failure) {
    out(ctx, `smoke check of ${to} in staging...`);
    failure = await smokeCheck(ctx.execPath, lay.staged, r.expect, ctx.env);
  }
  if (failure) {
    rmSync(lay.stagePrefix, { recursive: true, force: true });
    emitAll(ctx, r.sinks, 'service_upgrade_rolled_back', {
      from_version: r.from,
      to_version: to,
      reason: failure.slice(0, 2000),
      ...(r.manage ? { downtime_s: 0 } : {}),
    });
    alarmAll(ctx, r.sinks, { from: r.from, to, rolled_back: true, kept_running: true, detail: failure.slice(0, 2000) }, to);
    throw new AgentRunnerError('ERR_AR_UPGRADE', `upgrade to ${to} failed in staging, before anything was stopped: ${failure}`, {
      hint: `agent-runner ${r.from} was not touched and keeps running. Fix the cause, then run \`agent-runner upgrade\` again.`,
    });
  }
  out(ctx, `staged ${to}: smoke check passed`);
  const t0 = ctx.monoMs();
  if (r.manage) {
    try {
      await stopUnits(r);
    } catch (e) {
      rmSync(lay.stagePrefix, { recursive: true, force: true });
      await systemctl(r.scope, ['start', ...r.targets], { env: ctx.env }); // whatever did stop runs the old version again
      throw e;
    }
  }
  // Stopped before the switch, not restarted after it: a running old process that loads a
  // module lazily would get the new version's file at the same path.
  let failed: string | undefined;
  try {
    switchGlobal(prefix, r.pkgDir, lay);
    out(ctx, `switched ${r.pkgDir} to ${to}`);
  } catch (e) {
    failed = `switch to the staged ${to} failed: ${(e as Error).message}`;
  }
  if (!failed && r.manage) {
    failed = await startUnits(r);
    if (!failed) out(ctx, `started ${r.targets.join(', ')}`);
  }
  const downtimeS = secondsSince(r, t0);
  if (!failed) {
    rmSync(lay.backup, { recursive: true, force: true });
    rmSync(lay.stagePrefix, { recursive: true, force: true });
    return reportUpgraded(r, to, 'npm', downtimeS);
  }
  try {
    return await rollBack(r, to, failed, t0, async () => {
      if (!existsSync(lay.backup)) return; // the switch failed before it moved the live package
      try {
        restoreGlobal(prefix, r.pkgDir, lay.backup);
      } catch (e) {
        throw new Error(`${(e as Error).message} (the previous version is kept in ${lay.backup})`, { cause: e });
      }
    });
  } finally {
    // Not the backup: after a failed restore it is the only copy of the previous version.
    rmSync(lay.stagePrefix, { recursive: true, force: true });
  }
}

/**
 * A git checkout cannot be staged (its packages build in place, where the units run them):
 * stop, check out, `npm ci`, smoke-check, start.
 */
async function upgradeInPlace(r: Run, root: string): Promise<number> {
  const { ctx } = r;
  const git = (...a: string[]): Promise<ExecResult> => execCommand('git', ['-C', root, ...a], { env: ctx.env });
  const npmCi = (): ReturnType<typeof runWithProgress> =>
    runWithProgress(ctx, npmBin(ctx.execPath), ['ci', '--no-audit', '--no-fund'], { cwd: root, label: 'npm ci' });
  if (r.manage)
    out(ctx, 'a checkout cannot be staged (it builds in place): the services stay stopped until npm ci and the smoke check are done');
  const t0 = ctx.monoMs();
  if (r.manage) await stopUnits(r);
  let failure: string | undefined;
  const head = await git('rev-parse', 'HEAD');
  const oldHead = head.code === 0 ? head.stdout.trim() : '';
  const dirty = await git('status', '--porcelain', '--untracked-files=no');
  if (head.code !== 0 || dirty.stdout.trim()) {
    failure = head.code !== 0 ? `not a usable git checkout: ${tail(head)}` : 'the checkout has local changes; commit or stash them first';
  } else {
    await git('fetch', '--tags', '--quiet');
    const co = r.target
      ? await git('checkout', '--quiet', '--detach', r.target.startsWith('v') || !r.expect ? r.target : `v${r.target}`)
      : await git('pull', '--ff-only', '--quiet');
    if (co.code !== 0) failure = `git ${r.target ? 'checkout' : 'pull'} failed: ${tail(co)}`;
    else {
      out(ctx, 'npm ci (builds every package)...');
      const ci = await npmCi();
      if (ci.code !== 0) failure = `npm ci failed: ${ci.shown ? `exit ${ci.code ?? ci.signal} (its output is above)` : tail(ci)}`;
    }
  }
  const to = installedVersion(r.pkgDir) ?? r.expect ?? r.target ?? 'latest';
  failure ??= await smokeCheck(ctx.execPath, r.pkgDir, r.expect, ctx.env);
  if (!failure && r.manage) failure = await startUnits(r);
  if (!failure) return reportUpgraded(r, to, 'checkout', secondsSince(r, t0));
  return rollBack(r, to, failure, t0, async () => {
    if (!oldHead) return;
    const co = await git('checkout', '--quiet', '--detach', oldHead);
    if (co.code !== 0) throw new Error(`git checkout ${oldHead} failed: ${tail(co)}`);
    const ci = await npmCi();
    if (ci.code !== 0) throw new Error(`npm ci failed: ${tail(ci)}`);
  });
}

/**
 * `agent-runner upgrade [--target VERSION|SPEC] [--no-restart]`: upgrades agent-runner where it
 * is installed and smoke-checks the new version (`--version`, doctor's node and native-module
 * checks). With units installed in this mode (user units; system units when run as root with
 * --system) it restarts them on the new version (`service_upgraded`, with `downtime_s`: from
 * the stop until every unit is up again); `--no-restart` or no units upgrades the package only
 * and prints the restart command (`package_upgraded`).
 *
 * A global npm install (`<prefix>/lib/node_modules/agent-runner`) is installed into a staging
 * prefix beside it (`npm install -g --prefix`) and smoke-checked there while the old version
 * keeps running; a failure there stops nothing (`service_upgrade_rolled_back` with
 * `downtime_s` 0, ERR_AR_UPGRADE). Then the units are stopped gracefully, the directories are
 * swapped by rename(2) and the units started. A git checkout cannot be staged: its units stay
 * stopped during `git checkout` + `npm ci`. A failure after the stop or the swap restores the
 * previous version (no registry needed) and starts it (`service_upgrade_rolled_back`, exit 75);
 * a failed rollback leaves the units stopped (`service_upgrade_rollback_failed`, exit 70).
 * Long npm runs show npm's progress on a terminal and a line every 30 s elsewhere. npm honours
 * the operator's npm config (registry, proxy): `npm config get registry` shows which index.
 * @throws AgentRunnerError ERR_AR_UPGRADE when the install kind is unknown or staging failed
 *   (exit 75); ERR_AR_SYSTEMD when the units cannot be stopped (exit 69).
 */
export async function upgrade(ctx: CliContext, args: UpgradeArgs): Promise<number> {
  const inst: InstallKind = detectInstall(ctx.binPath);
  if (inst.kind === 'unknown') {
    throw new AgentRunnerError(
      'ERR_AR_UPGRADE',
      `cannot tell how agent-runner was installed (${inst.pkgDir} is neither <prefix>/lib/node_modules/agent-runner nor a checkout)`,
      {
        hint: 'Upgrade it the way it was installed (e.g. `npm install agent-runner@X` in that project), then `agent-runner restart`.',
      },
    );
  }
  const scope = ctx.mode;
  const dir = unitDir(scope, ctx.env);
  const metas = installedProjects(dir)
    .map((p) => parseMeta(readFileSync(targetDropInPath(dir, p), 'utf8')))
    .filter((m): m is InstallMeta => m !== undefined);
  const manage = args.restart !== false && metas.length > 0 && (scope === 'user' || currentUser().uid === 0);
  const r: Run = {
    ctx,
    scope,
    pkgDir: inst.pkgDir,
    from: VERSION,
    expect: exactVersion(args.target),
    spec: npmSpec(args.target, ctx.cwd),
    target: args.target,
    manage,
    targets: manage ? metas.map((m) => unitNames(m.project).target) : [],
    units: manage ? metas.flatMap((m) => m.units) : [],
    metas,
    sinks: eventSinks(ctx, args.config, metas, scope),
  };
  return inst.kind === 'npm-global' ? upgradeStaged(r, inst.prefix) : upgradeInPlace(r, inst.root);
}
