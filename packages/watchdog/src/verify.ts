/**
 * Whether the heal action in flight worked, probe by probe (DESIGN.md, "Heal tiers"): T1 by a
 * new enrollment, T2 by the process gone within the grace, T3 by the unit healthy through the
 * verification window. A unit that stopped being the watchdog's to heal (systemd restarting it,
 * stopped on purpose) ends the verification `superseded`: no failure is counted for it.
 */
import { verifyIdentity } from '@agent-runner/core/identity';
import { peekRestartRequest } from '@agent-runner/core/markers';
import type { ProjectPaths } from '@agent-runner/core/paths';
import type { Assessment } from './assess.js';
import { elapsedMs, type HealSettings, type Pending, type Stamp, stopped, type Target } from './tiers.js';

/** The outcome of one check: wait, or the result with what it rests on. */
export type Verification = 'wait' | { result: 'succeeded' | 'failed' | 'superseded'; reason: string };

/** What {@link verifyPending} reads. */
export interface VerifyContext {
  paths: ProjectPaths;
  settings: HealSettings;
  bootId: string;
  procRoot?: string;
}

/** A respawned unit that has not enrolled yet (the start-up grace bounds it) or is respawned now. */
function starting(a: Assessment): boolean {
  return a.stance === 'starting' || a.stance === 'restart';
}

/**
 * Checks the action `p` against this probe's assessment. T1 waits for a working unit that is
 * only outdated (it takes the marker at its next safe point) and for one being restarted; a
 * stopped process fails T1 and T2 at once. Mutates `p.healthySinceMs` (T3). Reads procfs and
 * the restart marker; never throws for their content.
 */
export function verifyPending(target: Target, p: Pending, a: Assessment, now: Stamp, c: VerifyContext): Verification {
  const { j } = a;
  const el = elapsedMs(p, now);
  const s = c.settings;
  const elsewhere = (): Verification => ({
    result: 'superseded',
    reason: `no longer the watchdog's to heal: ${j.evidence.at(-1) ?? a.stance}`,
  });
  const frozen = (): Verification => ({
    result: 'failed',
    reason: `pid ${j.record?.pid} is stopped: it can consume neither a marker nor SIGTERM`,
  });
  if (p.tier === 1) {
    if (j.alive && j.record !== undefined && j.record.started_at_ms >= p.atMs) {
      return { result: 'succeeded', reason: `new enrollment: pid ${j.record.pid} started at ${j.record.started_at}` };
    }
    if (stopped(j.signature)) return frozen();
    if (el < s.cooldownMs) return 'wait';
    // A working unit that is only outdated consumes the marker at its next safe point.
    if (j.alive && j.signature === 'version_outdated') return 'wait';
    // It took the marker and is being started again: respawned after its 75 (the start-up
    // grace bounds the wait) or by systemd.
    if (starting(a)) return 'wait';
    if (a.stance === 'busy' && el < s.cooldownMs + s.verifyWindowMs) return 'wait';
    if (j.verdict === 'unknown' && a.stance !== 'judged') return elsewhere();
    const still = peekRestartRequest(c.paths, target)?.nonce === p.nonce;
    return {
      result: 'failed',
      reason: `no new enrollment ${Math.round(el / 1000)} s after the request${still ? ' (marker never consumed)' : ''}`,
    };
  }
  if (p.tier === 2) {
    if (p.record === null) return { result: 'succeeded', reason: `no signal needed: ${p.skipped ?? 'already gone'}` };
    const v = verifyIdentity(p.record, { bootId: c.bootId, ...(c.procRoot !== undefined ? { procRoot: c.procRoot } : {}) });
    if (v.verdict !== 'same' && v.verdict !== 'unknown')
      return { result: 'succeeded', reason: `pid ${p.record.pid} ${v.verdict} after SIGTERM` };
    if (stopped(j.signature)) return frozen();
    if (el < s.termGraceMs) return 'wait';
    return { result: 'failed', reason: `pid ${p.record.pid} still alive ${Math.round(el / 1000)} s after SIGTERM` };
  }
  if (p.respawn !== undefined && !p.respawn.ok) return { result: 'failed', reason: `respawn failed: ${p.respawn.detail}` };
  if (j.verdict === 'healthy') {
    p.healthySinceMs ??= now.atMs;
    if (now.atMs - p.healthySinceMs >= s.verifyWindowMs) {
      return {
        result: 'succeeded',
        reason: `healthy for ${Math.round((now.atMs - p.healthySinceMs) / 1000)} s after the respawn (pid ${j.record?.pid})`,
      };
    }
    return 'wait';
  }
  if (j.verdict === 'unhealthy' && p.healthySinceMs != null) {
    return { result: 'failed', reason: `unhealthy again within the verification window: ${j.reasons.join(', ')}` };
  }
  p.healthySinceMs = null;
  if (starting(a) || el < s.cooldownMs + (j.verdict === 'unknown' ? s.verifyWindowMs : 0)) return 'wait';
  if (j.verdict === 'unknown') return elsewhere();
  return { result: 'failed', reason: `not healthy ${Math.round(el / 1000)} s after the respawn: ${j.reasons.join(', ') || j.verdict}` };
}
