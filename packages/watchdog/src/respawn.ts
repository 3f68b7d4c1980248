import { execFile, spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** How T3 brings a unit back. */
export type RespawnPlan =
  | { method: 'systemd'; unit: string; user: boolean; why: string }
  | { method: 'spawn'; argv: string[]; why: string }
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
    return undefined;
  }
}

/** Inputs of {@link planRespawn}. */
export interface PlanInput {
  /** The target's systemd unit name from config, `{project}` replaced. */
  configuredUnit: string;
  /** Where the target's process ran, when last seen alive (cgroup). */
  targetCgroup: CgroupUnit | undefined;
  /** The watchdog's own cgroup unit, and whether it runs under systemd ($INVOCATION_ID). */
  selfCgroup: CgroupUnit | undefined;
  selfUnderSystemd: boolean;
  /** Foreground respawn argv (configured or the CLI default); undefined when none. */
  respawnArgv: string[] | undefined;
}

/**
 * Chooses how to respawn. systemd only when the target's process was seen in the configured
 * unit's cgroup, or the watchdog itself runs under systemd (then the targets are its sibling
 * units); a cgroup of another service (a CI runner's, a login session) never leads to
 * `systemctl restart` of it. Otherwise the foreground respawn command. Pure.
 */
export function planRespawn(p: PlanInput): RespawnPlan {
  if (p.targetCgroup !== undefined && p.targetCgroup.unit === p.configuredUnit) {
    return { method: 'systemd', unit: p.configuredUnit, user: p.targetCgroup.user, why: `process ran in ${p.configuredUnit}` };
  }
  if (p.selfUnderSystemd) {
    return { method: 'systemd', unit: p.configuredUnit, user: p.selfCgroup?.user ?? false, why: 'the watchdog runs under systemd' };
  }
  if (p.respawnArgv !== undefined && p.respawnArgv.length > 0) {
    return { method: 'spawn', argv: p.respawnArgv, why: 'foreground mode' };
  }
  return { method: 'none', why: 'not under systemd and no respawn command' };
}

/** The outcome of {@link executeRespawn}. */
export interface RespawnOutcome {
  ok: boolean;
  detail: string;
  /** pid of a directly spawned process. */
  pid?: number;
}

/**
 * Carries out a plan. systemd: `systemctl [--user] restart --no-block UNIT` (no-block: the
 * start is verified by later probes, not awaited here). spawn: detached in its own session,
 * stdio to `logFile` (appended), env inherited from `env`.
 */
export function executeRespawn(
  plan: RespawnPlan,
  opts: { env: Record<string, string | undefined>; logFile: string; cwd?: string; timeoutMs?: number },
): Promise<RespawnOutcome> {
  if (plan.method === 'none') return Promise.resolve({ ok: false, detail: plan.why });
  if (plan.method === 'systemd') {
    const args = [...(plan.user ? ['--user'] : []), 'restart', '--no-block', plan.unit];
    return new Promise((resolve) => {
      execFile('systemctl', args, { env: opts.env as NodeJS.ProcessEnv, timeout: opts.timeoutMs ?? 30_000 }, (err, _out, stderr) => {
        if (err) resolve({ ok: false, detail: `systemctl ${args.join(' ')}: ${String(stderr).trim() || err.message}` });
        else resolve({ ok: true, detail: `systemctl ${args.join(' ')}` });
      });
    });
  }
  const [cmd, ...args] = plan.argv;
  let fd: number | undefined;
  try {
    fd = openSync(opts.logFile, 'a', 0o600);
    const child = spawn(cmd as string, args, {
      detached: true,
      stdio: ['ignore', fd, fd],
      env: opts.env as NodeJS.ProcessEnv,
      ...(opts.cwd !== undefined ? { cwd: opts.cwd } : {}),
    });
    return new Promise((resolve) => {
      child.once('error', (e) => resolve({ ok: false, detail: `spawn ${cmd}: ${e.message}` }));
      child.once('spawn', () => {
        child.unref();
        resolve({ ok: true, detail: `spawned ${plan.argv.join(' ')}`, ...(child.pid !== undefined ? { pid: child.pid } : {}) });
      });
    });
  } catch (e) {
    return Promise.resolve({ ok: false, detail: `spawn ${cmd}: ${(e as Error).message}` });
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * Asks systemd for a unit's state: `systemctl [--user] show -p ActiveState -p Result UNIT`
 * (properties as in org.freedesktop.systemd1(5)).
 * @returns undefined when systemctl fails or times out.
 */
export function systemdUnitState(
  env: Record<string, string | undefined>,
): (unit: string, user: boolean) => Promise<{ active: string; result: string } | undefined> {
  return (unit, user) =>
    new Promise((resolve) => {
      const args = [...(user ? ['--user'] : []), 'show', '-p', 'ActiveState', '-p', 'Result', unit];
      execFile('systemctl', args, { env: env as NodeJS.ProcessEnv, timeout: 10_000 }, (err, out) => {
        if (err) return resolve(undefined);
        const kv = Object.fromEntries(String(out).split('\n').filter((l) => l.includes('=')).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
        resolve(kv['ActiveState'] ? { active: kv['ActiveState'], result: kv['Result'] ?? '' } : undefined);
      });
    });
}
