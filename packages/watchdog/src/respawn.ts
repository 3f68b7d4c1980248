/**
 * How T3 brings a unit back, and where a process runs under systemd (its cgroup).
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * How T3 brings a unit back: systemd restarts what runs under it (the watchdog never runs
 * `systemctl restart`, which the service user of a system install may not), anything else is
 * spawned again with its own command line.
 */
export type RespawnPlan =
  | { method: 'systemd'; unit: string; why: string }
  | { method: 'spawn'; argv: string[]; cwd?: string; why: string }
  | { method: 'none'; why: string };

/** Where a process runs under systemd, from its cgroup. */
export interface CgroupUnit {
  /** The `.service` the process belongs to. */
  unit: string;
  /** True when it belongs to a user manager (`user@UID.service` in the path). */
  user: boolean;
}

/**
 * Parses `/proc/PID/cgroup` text (cgroup v2 line `0::/path`, or v1 `N:name=systemd:/path`)
 * and returns the innermost `.service` of the systemd path (format: cgroups(7)).
 * @returns undefined when the process is in no service (a session scope, the root).
 */
export function parseCgroupUnit(text: string): CgroupUnit | undefined {
  const lines = text.split('\n');
  const line = lines.find((l) => l.startsWith('0::')) ?? lines.find((l) => l.includes(':name=systemd:'));
  if (line === undefined) return undefined;
  const path = line.slice(line.indexOf(':', line.indexOf(':') + 1) + 1);
  const parts = path.split('/').filter((p) => p !== '');
  const services = parts.filter((p) => p.endsWith('.service'));
  const inner = services.at(-1);
  if (inner === undefined) return undefined;
  const user = parts.some((p) => /^user@\d+\.service$/.test(p)) && !/^user@\d+\.service$/.test(inner);
  return { unit: inner, user };
}

/** Reads and parses `<procRoot>/<pid>/cgroup`; undefined when unreadable or in no service. */
export function readCgroupUnit(pid: number, procRoot = '/proc'): CgroupUnit | undefined {
  try {
    return parseCgroupUnit(readFileSync(join(procRoot, String(pid), 'cgroup'), 'utf8'));
  } catch {
    return undefined; // ENOENT, ESRCH: the process is gone; there is no unit to read off it
  }
}

/** A command line to respawn a unit with, and where it was found. */
export interface RespawnCommand {
  argv: string[];
  cwd?: string;
  /** `enrollment`, `exit record`, `last seen`, `respawn_command`, `default`. */
  from: string;
}

/** Inputs of {@link planRespawn}. */
export interface PlanInput {
  /** The target's systemd unit name from config, `{project}` replaced. */
  configuredUnit: string;
  /** Where the target's process ran, when last seen alive (cgroup). */
  targetCgroup: CgroupUnit | undefined;
  /** Whether the watchdog itself runs under systemd ($INVOCATION_ID). */
  selfUnderSystemd: boolean;
  /** The command line to spawn outside systemd (recorded, configured or the CLI default). */
  command: RespawnCommand | undefined;
}

/**
 * Chooses how to respawn. systemd (its `Restart=on-failure` after the SIGKILL) when the
 * watchdog runs under systemd or the target's process was seen in the configured unit's
 * cgroup; a cgroup of another service (a CI runner's, a login session) is not systemd's to
 * restart, so the unit is spawned. Otherwise the command line. Pure.
 */
export function planRespawn(p: PlanInput): RespawnPlan {
  if (p.selfUnderSystemd) return { method: 'systemd', unit: p.configuredUnit, why: 'the watchdog runs under systemd' };
  if (p.targetCgroup !== undefined && p.targetCgroup.unit === p.configuredUnit) {
    return { method: 'systemd', unit: p.configuredUnit, why: `the process ran in ${p.configuredUnit}` };
  }
  if (p.command !== undefined && p.command.argv.length > 0) {
    return {
      method: 'spawn',
      argv: p.command.argv,
      ...(p.command.cwd !== undefined ? { cwd: p.command.cwd } : {}),
      why: `its ${p.command.from} command line`,
    };
  }
  return { method: 'none', why: 'not under systemd and no command line recorded or configured' };
}

/** The outcome of {@link executeRespawn}. */
export interface RespawnOutcome {
  ok: boolean;
  detail: string;
  /** pid of a directly spawned process. */
  pid?: number;
}

/**
 * Carries out a plan. systemd: nothing to run, its `Restart=` brings the unit back (later
 * probes verify it). spawn: detached in its own session, in the recorded working directory,
 * stdio to `logFile` (appended), env inherited from `env`.
 */
export function executeRespawn(
  plan: RespawnPlan,
  opts: { env: Record<string, string | undefined>; logFile: string; onExit?: (code: number | null, pid: number) => void },
): Promise<RespawnOutcome> {
  if (plan.method === 'none') return Promise.resolve({ ok: false, detail: plan.why });
  if (plan.method === 'systemd')
    return Promise.resolve({ ok: true, detail: `left to systemd: ${plan.unit} restarts on failure (Restart=on-failure)` });
  const [cmd, ...args] = plan.argv;
  let fd: number | undefined;
  try {
    fd = openSync(opts.logFile, 'a', 0o600);
    const child = spawn(cmd as string, args, {
      detached: true,
      stdio: ['ignore', fd, fd],
      env: opts.env as NodeJS.ProcessEnv,
      ...(plan.cwd !== undefined ? { cwd: plan.cwd } : {}),
    });
    return new Promise((resolve) => {
      child.once('error', (e) => resolve({ ok: false, detail: `spawn ${cmd}: ${e.message}` }));
      child.once('spawn', () => {
        const pid = child.pid;
        // The watchdog is the parent of what it spawns: it alone learns an exit before enrolment.
        if (opts.onExit && pid !== undefined) child.once('exit', (code) => opts.onExit?.(code, pid));
        child.unref();
        resolve({
          ok: true,
          detail: `spawned ${plan.argv.join(' ')}${plan.cwd !== undefined ? ` in ${plan.cwd}` : ''}`,
          ...(child.pid !== undefined ? { pid: child.pid } : {}),
        });
      });
    });
  } catch (e) {
    return Promise.resolve({ ok: false, detail: `spawn ${cmd}: ${(e as Error).message}` });
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
