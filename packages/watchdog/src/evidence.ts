/**
 * The evidence of one target, gathered for {@link assess}: systemd's view (under systemd), the
 * unit's files (core/health), its exit record, a stop request or `.agent-done`, and the
 * watchdog's own memory of it (last respawn, last identity seen alive).
 */
import { existsSync } from 'node:fs';
import { probeUnit } from '@agent-runner/core/health';
import type { EnrollmentRecord } from '@agent-runner/core/identity';
import type { Ledger } from '@agent-runner/core/ledger';
import { readStopRequest } from '@agent-runner/core/markers';
import type { ProjectPaths } from '@agent-runner/core/paths';
import { readExitRecord } from '@agent-runner/core/unit';
import { type Assessment, assess } from './assess.js';
import { readCgroupUnit } from './respawn.js';
import type { SystemdShow } from './systemd.js';
import { consideredTargets, type HealSettings, type Stamp, type Target } from './tiers.js';

/** The last respawn of a target by the watchdog (ledger kv `watchdog.respawn.<target>`). */
export interface RespawnStamp extends Stamp {
  pid: number | null;
}

/**
 * Why the runner, which writes no exit record, left on purpose as far as markers tell: a stop
 * request or the agent's `.agent-done`. Undefined for other units and when nothing says so.
 */
function cleanExitReason(paths: ProjectPaths, target: Target): string | undefined {
  if (target !== 'runner') return undefined;
  try {
    if (readStopRequest(paths) !== undefined) return 'stop requested: the runner exited on purpose';
  } catch {
    // An unreadable stop marker: the heal loop must go on, and the evidence says we cannot tell.
    return 'cannot tell whether a stop was requested';
  }
  if (existsSync(paths.agentDoneFile)) return 'the agent wrote .agent-done: the runner exited on purpose';
  return undefined;
}

/** ledger kv key of the last respawn of `target`. */
export const respawnKey = (target: string): string => `watchdog.respawn.${target}`;

/** The last respawn of `target` recorded in the ledger. */
export function lastRespawn(ledger: Ledger, target: string): RespawnStamp | undefined {
  const v = ledger.kv.get(respawnKey(target));
  if (v === undefined) return undefined;
  try {
    return JSON.parse(v) as RespawnStamp;
  } catch {
    return undefined; // SyntaxError: a corrupt stamp counts as no respawn recorded
  }
}

/** What {@link assessTarget} reads besides the unit's own files. */
export interface AssessContext {
  paths: ProjectPaths;
  settings: HealSettings;
  targets: readonly Target[] | undefined;
  nowMs: number;
  monoMs: number;
  installedVersion: string | undefined;
  bootId?: string;
  procRoot?: string;
  systemd?: { show: SystemdShow; user: boolean; unit: string };
  lastRespawn?: RespawnStamp;
  lastSeen?: EnrollmentRecord;
  /** Outside systemd: within the start-up grace. */
  inGrace: boolean;
  /** When a probe last found the state file systems full, ms since epoch. */
  fullDiskSeenAtMs?: number;
}

/**
 * Gathers the evidence of one target (systemd's view first, then its files: a unit that
 * becomes ready between the two reads is seen enrolled) and assesses it.
 */
export async function assessTarget(target: Target, c: AssessContext): Promise<Assessment> {
  const view = c.systemd !== undefined ? await c.systemd.show(c.systemd.unit, c.systemd.user) : undefined;
  const j = probeUnit(c.paths, target, {
    expected: true,
    staleAfterMs: c.settings.staleAfterMs[target],
    nowMs: c.nowMs,
    installedVersion: c.installedVersion,
    ...(c.bootId !== undefined ? { bootId: c.bootId } : {}),
    ...(c.procRoot !== undefined ? { procRoot: c.procRoot } : {}),
    ...(c.fullDiskSeenAtMs !== undefined ? { fullDiskSeenAtMs: c.fullDiskSeenAtMs } : {}),
  });
  const listed = consideredTargets(c.targets, c.systemd !== undefined).includes(target);
  if (c.systemd !== undefined) {
    let inUnit: boolean | undefined;
    if (j.alive && j.record !== undefined && view !== undefined) {
      const cg = readCgroupUnit(j.record.pid, c.procRoot);
      inUnit = cg !== undefined ? cg.unit === view.unit : view.mainPid > 0 ? view.mainPid === j.record.pid : undefined;
    }
    return assess({ j, listed, systemd: { view, nowMonoMs: c.monoMs, inUnit }, inGrace: false, graceMs: c.settings.startupGraceMs });
  }
  const exit = readExitRecord(c.paths, target);
  const clean = cleanExitReason(c.paths, target);
  return assess({
    j,
    listed,
    inGrace: c.inGrace,
    graceMs: c.settings.startupGraceMs,
    ...(exit !== undefined ? { exit } : {}),
    ...(c.lastRespawn !== undefined ? { lastRespawnAtMs: c.lastRespawn.atMs } : {}),
    ...(clean !== undefined ? { cleanStop: clean } : {}),
    ...(c.lastSeen !== undefined ? { lastSeen: c.lastSeen } : {}),
  });
}
