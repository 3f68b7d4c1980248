/**
 * Whether a unit is the watchdog's to heal now. The file judgement (core/health: enrollment,
 * identity, heartbeat, version) says what is wrong; this says whether anyone meant it: a unit
 * that is starting, that systemd is restarting, or that stopped on purpose is never acted on.
 * Under systemd the truth is systemd's view of the unit; outside systemd it is the unit's
 * clean-exit record (core/unit), a stop request or `.agent-done`, and a start-up grace.
 */
import type { HealthReason, UnitJudgement } from '@agent-runner/core/health';
import type { EnrollmentRecord } from '@agent-runner/core/identity';
import { isLastExit, STOPPED_ON_PURPOSE, type ExitRecord } from '@agent-runner/core/unit';
import type { RespawnCommand } from './respawn.js';
import { systemdStance, type SystemdView } from './systemd.js';

/**
 * Where a unit stands for the watchdog:
 * - `judged`: the file judgement stands (healthy, unhealthy or unknown on its own evidence).
 * - `absent`: not installed here, not wanted, or not in `[watchdog] targets`.
 * - `starting`: within the start-up grace, or not yet enrolled.
 * - `busy`: systemd is starting, stopping or restarting it.
 * - `stopped`: it stopped on purpose.
 * - `dead`: under systemd, failed and not restarted by systemd: only a human can start it.
 * - `restart`: outside systemd, it exited 75 for a restart: respawn it now (not a failure).
 */
export type Stance = 'judged' | 'absent' | 'starting' | 'busy' | 'stopped' | 'dead' | 'restart';

/** The judgement the watchdog acts on and what it rests on. */
export interface Assessment {
  /** The file judgement, made `unknown` (with the reason as evidence) when not the watchdog's to heal. */
  j: UnitJudgement;
  stance: Stance;
  /** systemd's view, when the watchdog runs under systemd and could read it. */
  sd?: SystemdView;
  /** The unit's own command line to respawn it with outside systemd, when one is recorded. */
  respawn?: RespawnCommand;
}

/** What {@link assess} weighs. */
export interface AssessInput {
  /** The file judgement, made with `expected: true`. */
  j: UnitJudgement;
  /** In `[watchdog] targets` (or no list configured). */
  listed: boolean;
  /** Present when the watchdog runs under systemd. */
  systemd?: {
    /** systemd's view; undefined when `systemctl show` failed. */
    view: SystemdView | undefined;
    /** The CLOCK_MONOTONIC of now, ms (the clock of `ActiveEnterTimestampMonotonic`). */
    nowMonoMs: number;
    /** Whether the enrolled process runs in the unit (its cgroup, else MainPID); undefined: not known. */
    inUnit: boolean | undefined;
  };
  /** Outside systemd: the unit's clean-exit record, if any. */
  exit?: ExitRecord;
  /** Outside systemd: when the watchdog last respawned the unit, ms since epoch (older exit records are stale). */
  lastRespawnAtMs?: number;
  /** Outside systemd: within the start-up grace (of the watchdog's own start or the last respawn). */
  inGrace: boolean;
  /** Outside systemd: a stop request or `.agent-done` (units that write no exit record yet). */
  cleanStop?: string;
  /** The last incarnation the watchdog saw alive (its command line, for a respawn). */
  lastSeen?: EnrollmentRecord;
  /** Start-up grace, ms (for the evidence). */
  graceMs: number;
}

const secs = (ms: number): string => `${Math.max(0, Math.round(ms / 1000))} s`;

function recorded(rec: { argv?: string[] | undefined; cwd?: string | undefined } | undefined, from: string): RespawnCommand | undefined {
  if (rec?.argv === undefined || rec.argv.length === 0) return undefined;
  return { argv: rec.argv, ...(rec.cwd !== undefined ? { cwd: rec.cwd } : {}), from };
}

/**
 * Decides the {@link Stance} of a unit and the judgement the watchdog acts on. Rules:
 * 1. Not listed in `[watchdog] targets`: `absent`.
 * 2. Under systemd: not installed or not wanted → `absent`; activating, deactivating,
 *    reloading (auto-restart included) → `busy`; inactive/failed after `Result=success` or
 *    exit 0, 69, 77, 78 → `stopped`; failed otherwise → `dead` (unhealthy); active → the file
 *    judgement, except that an enrolled process outside the unit is not the unit's, and a
 *    unit active for less than the start-up grace without enrolling is `starting`.
 * 3. Outside systemd, for a unit without a live enrolled process: its exit record (newer than
 *    the last respawn, and of its newest process: core/unit `isLastExit`): a
 *    deliberate reason → `stopped`; `restart_marker` (75) → `restart`; `error` → crashed
 *    (unhealthy). Without a record: a stop request or `.agent-done` → `stopped`; within the
 *    start-up grace → `starting`; else unhealthy.
 * Only `judged` and `dead` may be unhealthy. Pure.
 */
export function assess(x: AssessInput): Assessment {
  const { j } = x;
  const not = (stance: Stance, why: string, extra: Partial<Assessment> = {}, reason: HealthReason = 'not_expected'): Assessment => ({
    j: { ...j, verdict: 'unknown', reasons: [reason], evidence: [...j.evidence, why], signature: '' },
    stance,
    ...extra,
  });
  const noted = (why: string): UnitJudgement => ({ ...j, evidence: [...j.evidence, why] });
  const respawn = recorded(j.record, 'enrollment') ?? recorded(x.exit, 'exit record') ?? recorded(x.lastSeen, 'last seen');
  const cmd = respawn !== undefined ? { respawn } : {};
  if (!x.listed) return not('absent', 'not in watchdog.targets');
  const exited = j.reasons[0] === 'enrollment_missing' || j.reasons[0] === 'identity_gone';

  if (x.systemd !== undefined) {
    const sd = x.systemd.view;
    if (sd === undefined)
      return exited
        ? not('judged', 'systemd state unreadable: cannot tell a stop from a crash', {}, 'identity_unknown')
        : { j, stance: 'judged' };
    const { stance, why } = systemdStance(sd);
    if (stance === 'absent' || stance === 'unwanted') return not('absent', why, { sd });
    if (stance === 'busy' || stance === 'stopped') return not(stance, why, { sd });
    if (stance === 'dead') {
      if (j.alive) return not('absent', `${why}; enrolled pid ${j.record?.pid} is not its process`, { sd });
      return { j: { ...noted(why), verdict: 'unhealthy', signature: j.signature || 'enrollment_missing' }, stance: 'dead', sd };
    }
    if (j.alive) {
      if (x.systemd.inUnit === false)
        return not('absent', `enrolled pid ${j.record?.pid} does not run in ${sd.unit} (MainPID ${sd.mainPid}): not its process`, { sd });
      return { j: j.verdict === 'healthy' ? j : noted(why), stance: 'judged', sd };
    }
    if (exited) {
      const activeMs = x.systemd.nowMonoMs - sd.activeEnterMonoUs / 1000;
      if (activeMs < x.graceMs)
        return not('starting', `${sd.unit} active for ${secs(activeMs)}, not enrolled yet (start-up grace ${secs(x.graceMs)})`, { sd });
      return { j: noted(`${why}, active for ${secs(activeMs)} without an enrolled process`), stance: 'judged', sd };
    }
    return { j, stance: 'judged', sd };
  }

  if (!exited) return { j, stance: 'judged', ...cmd };
  const stale = j.record;
  const exit =
    x.exit !== undefined && isLastExit(x.exit, stale) && x.exit.exited_at_ms >= (x.lastRespawnAtMs ?? Number.NEGATIVE_INFINITY)
      ? x.exit
      : undefined;
  if (exit !== undefined) {
    const what = `pid ${exit.pid} exited ${exit.exit_code} (${exit.reason}) at ${exit.exited_at}${exit.detail ? `: ${exit.detail}` : ''}`;
    if (STOPPED_ON_PURPOSE.has(exit.reason)) return not('stopped', `${what}: stopped on purpose, not respawning it`);
    if (exit.reason === 'restart_marker') return not('restart', `${what}: respawning it now`, cmd);
    return { j: noted(`${what}: crashed`), stance: 'judged', ...cmd };
  }
  if (x.cleanStop !== undefined) return not('stopped', x.cleanStop);
  if (x.inGrace)
    return not('starting', `not enrolled within the start-up grace yet (${secs(x.graceMs)} from the watchdog's start or the last respawn)`);
  return { j, stance: 'judged', ...cmd };
}
