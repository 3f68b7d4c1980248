/**
 * The pure part of the heal tiers (DESIGN.md, "Heal tiers"): settings, clocks, which tier
 * comes next and what `heal status` says about it. No I/O.
 */
import type { HealState, HealTier } from '@agent-runner/core/ledger';
import type { EnrollmentRecord } from '@agent-runner/core/identity';
import type { WatchdogConfig } from '@agent-runner/core/config';

/** The targets the watchdog may heal. */
export type Target = 'runner' | 'bridge' | 'monitor';
export const TARGETS: readonly Target[] = ['runner', 'bridge', 'monitor'];

/** Watchdog settings in ms (from `[watchdog]`). */
export interface HealSettings {
  intervalMs: number;
  staleAfterMs: Record<Target, number>;
  cooldownMs: number;
  termGraceMs: number;
  verifyWindowMs: number;
  startupGraceMs: number;
  breakerAfterFailedT3: number;
  breakerAfterSameSignature: number;
  signatureWindowMs: number;
  /** systemd restarted a unit {@link RESTART_LOOP_RESTARTS} times without it being healthy for this long: breaker (0: off). */
  restartLoopMs: number;
}

/** Restarts by systemd, without the unit being healthy in between, that make a restart loop. */
export const RESTART_LOOP_RESTARTS = 5;

/** Converts `[watchdog]` (seconds) to {@link HealSettings} (ms). */
export function healSettings(w: WatchdogConfig): HealSettings {
  const ms = (s: number): number => Math.round(s * 1000);
  return {
    intervalMs: ms(w.interval_s),
    staleAfterMs: { runner: ms(w.stale_after_s.runner), bridge: ms(w.stale_after_s.bridge), monitor: ms(w.stale_after_s.monitor) },
    cooldownMs: ms(w.tier_cooldown_s),
    termGraceMs: ms(w.term_grace_s),
    verifyWindowMs: ms(w.verify_window_s),
    startupGraceMs: ms(w.startup_grace_s),
    breakerAfterFailedT3: w.breaker_after_failed_t3,
    breakerAfterSameSignature: w.breaker_after_same_signature,
    signatureWindowMs: ms(w.signature_window_s),
    restartLoopMs: ms(w.restart_loop_s),
  };
}

/**
 * The targets a watchdog considers: `[watchdog] targets` when set; else, under systemd, every
 * target (systemd says which are installed), and without systemd only the runner.
 */
export function consideredTargets(configured: readonly Target[] | undefined, underSystemd: boolean): Target[] {
  if (configured !== undefined) return TARGETS.filter((t) => configured.includes(t));
  return underSystemd ? [...TARGETS] : ['runner'];
}

/** A point in time as the watchdog stamps it: wall clock, boot and monotonic clock. */
export interface Stamp {
  /** Wall clock, ms since epoch. */
  atMs: number;
  /** System-wide monotonic clock (CLOCK_MONOTONIC), ms; valid within `bootId` only. */
  monoMs: number;
  bootId: string;
}

/**
 * ms elapsed since `then`: by the monotonic clock within one boot (immune to wall-clock
 * steps), by the wall clock across boots (the monotonic clock restarts at boot). Never negative.
 */
export function elapsedMs(then: Stamp, now: Stamp): number {
  const d = then.bootId === now.bootId ? now.monoMs - then.monoMs : now.atMs - then.atMs;
  return Math.max(0, d);
}

/** The action in flight, persisted as `heal_state.pending_verification` (JSON). */
export interface Pending extends Stamp {
  tier: 1 | 2 | 3;
  nonce: string;
  /**
   * Progress, persisted before each step so a watchdog killed at any point resumes without
   * repeating a step: `intent` (about to act) → `sent` (T1/T2 done) or, for T3, `killed` →
   * `respawn_intent` → `respawned`.
   */
  phase: 'intent' | 'sent' | 'killed' | 'respawn_intent' | 'respawned';
  /** The identity acted on (null when no live process was proven to be the unit). */
  record: EnrollmentRecord | null;
  reason: string;
  signature: string;
  /** T2: why no signal was sent (the process was already gone). */
  skipped?: string;
  /** T3: the respawn's outcome. */
  respawn?: { method: string; ok: boolean; detail: string };
  /** T3: since when the respawned unit has been healthy without a break, wall ms. */
  healthySinceMs?: number | null;
}

/** The stamp of the last action of `st`, or undefined when none. */
export function lastActionStamp(st: HealState): Stamp | undefined {
  if (st.lastActionAtMs === null) return undefined;
  return { atMs: st.lastActionAtMs, monoMs: st.lastActionMonoMs ?? Number.NEGATIVE_INFINITY, bootId: st.bootId };
}

/** ms until the next tier may act (0 when it may act now). */
export function cooldownLeftMs(st: HealState, now: Stamp, s: HealSettings): number {
  const last = lastActionStamp(st);
  if (last === undefined) return 0;
  if (last.bootId === now.bootId && st.lastActionMonoMs === null) return Math.max(0, s.cooldownMs - (now.atMs - last.atMs));
  return Math.max(0, s.cooldownMs - elapsedMs(last, now));
}

/**
 * The tier to try next on an unhealthy unit. From 0: T1 when a live process is the unit,
 * else T3 (nothing to ask or terminate: respawn). Then one tier up per failed or insufficient
 * tier, T3 repeating until the breaker opens. Two failures skip the ladder: a stopped process
 * (`process_stopped`) goes to T3 at once, since it can consume neither a marker nor SIGTERM;
 * an outdated version of a working unit (`version_outdated` alone) only ever gets T1, which
 * it consumes at its next safe point (serve: between rounds).
 */
export function nextTier(current: HealTier, alive: boolean, signature = ''): 1 | 2 | 3 {
  if (stopped(signature)) return 3;
  if (signature === 'version_outdated') return 1;
  if (current >= 3) return 3;
  const n = (current + 1) as 1 | 2 | 3;
  return n < 3 && !alive ? 3 : n;
}

/** True when a failure signature names a stopped process (no cooldown: nothing else helps). */
export function stopped(signature: string): boolean {
  return signature.split('+').includes('process_stopped');
}

/** Human names of the tiers. */
export const TIER_ACTION: Record<1 | 2 | 3 | 4, string> = {
  1: 'restart marker',
  2: 'SIGTERM',
  3: 'SIGKILL + respawn',
  4: 'circuit broken',
};

/**
 * What `heal status` says the watchdog will do next for a target.
 * @param verdict the current health verdict; `signature` its failure signature.
 */
export function describeNext(
  target: string,
  st: HealState | undefined,
  verdict: 'healthy' | 'unhealthy' | 'unknown',
  alive: boolean,
  signature: string,
  now: Stamp,
  s: HealSettings,
): string {
  if (st?.breaker === 'open')
    return `none: circuit broken; closes once ${target} is healthy for ${s.verifyWindowMs / 1000} s, or after fixing the cause: agent-runner heal reset ${target} --reason "..."`;
  const p = st?.pendingVerification as Pending | null | undefined;
  if (p) {
    const el = elapsedMs(p, now);
    if (p.tier === 1) return `verifying T1: waiting for a new enrollment (${Math.ceil(Math.max(0, s.cooldownMs - el) / 1000)} s left)`;
    if (p.tier === 2) return `verifying T2: waiting for the process to exit (${Math.ceil(Math.max(0, s.termGraceMs - el) / 1000)} s left)`;
    return p.healthySinceMs != null
      ? `verifying T3: healthy for ${Math.floor((now.atMs - p.healthySinceMs) / 1000)} s of ${s.verifyWindowMs / 1000} s`
      : `verifying T3: waiting for the respawned unit to be healthy`;
  }
  if (verdict === 'healthy') return 'none (healthy)';
  if (verdict === 'unknown') return "none: not the watchdog's to heal now (see the evidence)";
  const t = nextTier(st?.tier ?? 0, alive, signature);
  const left = st && !stopped(signature) ? cooldownLeftMs(st, now, s) : 0;
  return `T${t} ${TIER_ACTION[t]} ${left > 0 ? `in ${Math.ceil(left / 1000)} s (cooldown)` : 'at the next probe'}`;
}
