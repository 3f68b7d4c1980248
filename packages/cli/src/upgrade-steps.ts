// The steps of `agent-runner upgrade` (commands/upgrade.ts runs them in order): npm with
// progress, the smoke check, the staging layout and its switch, the units coming up, and who
// hears of the outcome.
import { spawn } from 'node:child_process';
import { chownSync, existsSync, lstatSync, mkdirSync, readdirSync, renameSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { clearAlarm, raiseAlarm, type AlarmFacts } from '@agent-runner/core/alarms';
import { configPaths, findConfig, loadConfig } from '@agent-runner/core/config';
import { isErrno } from '@agent-runner/core/errors';
import { EventWriter, type EventKind, type EventPayload } from '@agent-runner/core/events';
import { openLedger } from '@agent-runner/core/ledger';
import type { ServiceMode } from '@agent-runner/core/paths';
import type { CliContext } from './context.js';
import { out, warn } from './output.js';
import { currentUser, execCommand, showUnits, type ExecResult } from './systemd.js';
import type { InstallMeta } from './systemd-render.js';

/** npm beside the running node (a nvm or tarball install has no npm on the units' PATH), else PATH's. */
export function npmBin(execPath: string): string {
  const beside = join(dirname(execPath), 'npm');
  return existsSync(beside) ? beside : 'npm';
}

/**
 * The last lines of a command's output, for an error message, without node's stack frames
 * and version footer (a crashed CLI's last lines would be nothing else); `exit N` when it
 * printed nothing.
 */
export function tail(r: ExecResult): string {
  const lines = (r.stderr.trim() || r.stdout.trim()).split('\n').filter((l) => l.trim() && !/^\s+at /.test(l) && !/^Node\.js v\d/.test(l));
  return lines.slice(-5).join(' / ') || `exit ${r.code ?? r.signal}`;
}

/** What {@link runWithProgress} returns: the command's result, and whether the operator saw its output. */
export interface ProgressResult extends ExecResult {
  /** True on a terminal: the output went to it and is not in `stdout`/`stderr`. */
  shown: boolean;
}

/**
 * Runs a long command (npm compiling native modules: minutes on a Pi) so the operator sees it
 * is alive. On a terminal (`ctx.stdoutIsTTY`) the command shares the CLI's stdout and stderr,
 * so npm draws its own progress; otherwise (the journal, a script) its output is collected and
 * a line `LABEL: N s...` is printed every `everyMs` ms (default 30 s).
 * Never throws for a failed command; one that cannot be spawned resolves with code 127.
 */
export async function runWithProgress(
  ctx: CliContext,
  cmd: string,
  args: string[],
  opts: { cwd: string; label: string; everyMs?: number },
): Promise<ProgressResult> {
  const env = Object.fromEntries(Object.entries(ctx.env).filter((e): e is [string, string] => e[1] !== undefined));
  if (ctx.stdoutIsTTY) {
    return new Promise((resolve) => {
      const child = spawn(cmd, args, { env, cwd: opts.cwd, stdio: ['ignore', ctx.stdout, ctx.stderr] });
      child.on('error', (e) => resolve({ code: 127, signal: null, stdout: '', stderr: `${e.message}\n`, shown: false }));
      child.on('close', (code, signal) => resolve({ code, signal, stdout: '', stderr: '', shown: true }));
    });
  }
  const t0 = ctx.monoMs();
  const timer = setInterval(() => out(ctx, `${opts.label}: ${Math.round((ctx.monoMs() - t0) / 1000)} s...`), opts.everyMs ?? 30_000);
  try {
    return { ...(await execCommand(cmd, args, { env: ctx.env, cwd: opts.cwd, signal: ctx.signal })), shown: false };
  } finally {
    clearInterval(timer);
  }
}

/**
 * Smoke check of an installed CLI at `pkgDir` (live or staged): `--version` runs (and equals
 * `expect` when given) and the install-level checks of `doctor --json` (node, native modules)
 * pass. Each command may take 60 s.
 * @returns undefined when healthy, else what failed.
 */
export async function smokeCheck(
  node: string,
  pkgDir: string,
  expect: string | undefined,
  env: CliContext['env'],
): Promise<string | undefined> {
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

/**
 * Where a global npm install is upgraded, all inside `<prefix>/lib/node_modules`: the live
 * package's own directory, so staging, backup and live share one file system and the switch
 * is two rename(2)s.
 */
export interface GlobalLayout {
  /** npm prefix of the staging install: `<prefix>/lib/node_modules/.agent-runner-staging`. */
  stagePrefix: string;
  /** The staged package: `<stagePrefix>/lib/node_modules/agent-runner`. */
  staged: string;
  /** The previous package during the switch: `<prefix>/lib/node_modules/.agent-runner-upgrade-backup`. */
  backup: string;
}

/** The {@link GlobalLayout} of the live package `pkgDir` (`<prefix>/lib/node_modules/agent-runner`). */
export function globalLayout(pkgDir: string): GlobalLayout {
  const nm = dirname(pkgDir);
  const stagePrefix = join(nm, '.agent-runner-staging');
  return {
    stagePrefix,
    staged: join(stagePrefix, 'lib', 'node_modules', 'agent-runner'),
    backup: join(nm, '.agent-runner-upgrade-backup'),
  };
}

/**
 * Puts `<prefix>/bin/agent-runner` back when it is missing. It is relative
 * (`../lib/node_modules/agent-runner/...`, as npm makes it), so a switched directory needs no
 * new link.
 * @throws the fs error when the link cannot be read or made.
 */
function ensureBinLink(prefix: string): void {
  const link = join(prefix, 'bin', 'agent-runner');
  try {
    lstatSync(link);
    return;
  } catch (e) {
    if (!isErrno(e, 'ENOENT')) throw e;
  }
  mkdirSync(dirname(link), { recursive: true });
  symlinkSync('../lib/node_modules/agent-runner/bin/agent-runner.js', link);
}

/**
 * The switch: live package → `layout.backup`, staged → live. A failed second rename puts the
 * live one back before throwing, so `pkgDir` is never left empty by this function.
 * @throws the fs error of the rename that failed.
 */
export function switchGlobal(prefix: string, pkgDir: string, layout: GlobalLayout): void {
  rmSync(layout.backup, { recursive: true, force: true });
  renameSync(pkgDir, layout.backup);
  try {
    renameSync(layout.staged, pkgDir);
  } catch (e) {
    renameSync(layout.backup, pkgDir);
    throw e;
  }
  ensureBinLink(prefix);
}

/**
 * Reinstates the backup of a global install in place of whatever is at `pkgDir` (the new
 * version, or nothing), and the bin link if it is gone.
 * @throws the fs error when the backup cannot be moved back.
 */
export function restoreGlobal(prefix: string, pkgDir: string, backup: string): void {
  rmSync(pkgDir, { recursive: true, force: true });
  renameSync(backup, pkgDir);
  ensureBinLink(prefix);
}

/**
 * Waits until every unit has come up after `systemctl start`: active, or ended cleanly (a
 * bounded run that finished). A unit that failed, waits to be restarted (`auto-restart`: it
 * exited with an error) or is still not up after `timeoutMs` (default 90 s, systemd's start
 * timeout) did not come up.
 * @returns undefined when all came up, else which did not and how.
 */
export async function waitUnitsUp(
  ctx: CliContext,
  scope: ServiceMode,
  units: string[],
  timeoutMs = 90_000,
  pollMs = 250,
): Promise<string | undefined> {
  const t0 = ctx.monoMs();
  for (;;) {
    let pending: string[];
    try {
      const states = await showUnits(scope, units, ctx.env);
      const bad = states.filter(
        (u) =>
          u.active_state === 'failed' ||
          u.sub_state === 'auto-restart' ||
          (u.active_state === 'inactive' && u.result !== 'success' && u.result !== ''),
      );
      if (bad.length)
        return bad
          .map((u) => `${u.unit} ${u.active_state}/${u.sub_state} (result ${u.result}, exit status ${u.exec_main_status})`)
          .join(', ');
      pending = states
        .filter((u) => u.active_state !== 'active' && !(u.active_state === 'inactive' && u.result === 'success'))
        .map((u) => `${u.unit} ${u.active_state}/${u.sub_state}`);
    } catch (e) {
      return (e as Error).message;
    }
    if (!pending.length) return undefined;
    if (ctx.monoMs() - t0 >= timeoutMs) return `not up after ${Math.round(timeoutMs / 1000)} s: ${pending.join(', ')}`;
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

/** The events an upgrade emits. */
export type UpgradeEvent = 'service_upgraded' | 'package_upgraded' | 'service_upgrade_rolled_back' | 'service_upgrade_rollback_failed';

/** Where a project hears of an upgrade: its event stream and its ledger. */
export interface Sink {
  dir: string;
  project: string;
  ledgerPath: string;
}

/**
 * Event streams to report to: every installed project of the scope (`metas`), else the
 * project of `--config` or the cwd. A project whose config does not load is left out; never throws.
 */
export function eventSinks(ctx: CliContext, explicitConfig: string | undefined, metas: InstallMeta[], scope: ServiceMode): Sink[] {
  const sinks: Sink[] = [];
  const add = (file: string): void => {
    try {
      const cfg = loadConfig(file, {
        env: { ...ctx.env, STATE_DIRECTORY: undefined, LOGS_DIRECTORY: undefined },
        mode: scope,
        skipFileChecks: true,
      });
      const paths = configPaths(cfg);
      if (!sinks.some((s) => s.dir === paths.eventsDir))
        sinks.push({ dir: paths.eventsDir, project: cfg.project, ledgerPath: paths.ledgerPath });
    } catch {
      /* a project whose config is gone or unreadable gets no event */
    }
  };
  for (const m of metas) add(m.config);
  if (sinks.length === 0) {
    try {
      add(findConfig({ explicit: explicitConfig, envPath: ctx.env['AGENT_RUNNER_CONFIG'], cwd: ctx.cwd }));
    } catch {
      /* upgrade runs fine outside any project */
    }
  }
  return sinks;
}

/** Appends one event to every sink; as root, hands a new day file to the state owner. Never throws: a sink it cannot write to is warned about. */
export function emitAll<K extends UpgradeEvent>(ctx: CliContext, sinks: Sink[], kind: K, payload: EventPayload<K & EventKind>): void {
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
 * Never throws: a ledger it cannot write to is warned about.
 */
export function alarmAll(ctx: CliContext, sinks: Sink[], facts: AlarmFacts | null, to: string): void {
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
        for (const f of [`${s.ledgerPath}-wal`, `${s.ledgerPath}-shm`])
          if (existsSync(f) && statSync(f).uid !== owner.uid) chownSync(f, owner.uid, owner.gid);
      }
    } catch (e) {
      warn(ctx, `upgrade alarm not recorded in ${s.ledgerPath}: ${(e as Error).message}`);
    }
  }
}
