import type { FailureClass, Verdict } from './adapters/types.js';

/** The `[runtime]` settings the between-rounds policy reads (seconds, as configured). */
export interface PolicySettings {
  restart_delay_s: number;
  transient_error_action: 'back_off' | 'stop';
  backoff: { base_s: number; max_s: number; factor: number; jitter_s: number };
  crash_loop: { threshold: number; short_round_s: number; cooldown_s: number; cooldown_max_s: number };
  auth: { probe_interval_s: number };
}

/** Classes that recover by themselves: back off, never count toward the crash-loop breaker. */
export const TRANSIENT: ReadonlySet<FailureClass> = new Set(['rate_limit', 'overloaded', 'server_error', 'network', 'timeout', 'hang']);

/** What the loop does after a round. */
export type Decision =
  | { action: 'continue'; delayMs: number; reason: 'ok' | 'transient' | 'failure' | 'auth'; untilMs?: number }
  | { action: 'stop'; reason: 'crash_loop' | 'transient_error'; consecutive: number }
  /**
   * The crash-loop breaker opened (or re-opened after a failed try): no round for `delayMs`,
   * then one round tries whether the cause is gone (`cooldownS`: this cool-down, seconds).
   */
  | { action: 'cool_down'; reason: 'crash_loop'; consecutive: number; delayMs: number; untilMs: number; cooldownS: number };

/** Counters the policy keeps across rounds (reset by a successful round). */
export interface PolicyState {
  /** Consecutive transient failures (drives the exponential back-off). */
  transient: number;
  /** Consecutive short failures of the agent itself (drives the crash-loop breaker). */
  shortFailures: number;
  /** Consecutive failures of any kind. */
  failures: number;
  /** Set while paused on an authentication failure; ms since epoch of the first one. */
  authSinceMs?: number;
  /**
   * Set while the crash-loop breaker is open or half-open: the cool-down it last waited,
   * seconds. The next crash of the agent re-opens it at twice that (up to the cap) at once,
   * without counting to the threshold again. Cleared by an `ok` round.
   */
  breakerCooldownS?: number;
}

/** A fresh {@link PolicyState}. */
export function initialPolicyState(): PolicyState {
  return { transient: 0, shortFailures: 0, failures: 0 };
}

/** `base * factor^(n-1)`, capped, in ms (n >= 1). */
export function exponentialMs(b: PolicySettings['backoff'], n: number): number {
  return Math.min(b.max_s, b.base_s * b.factor ** Math.max(0, n - 1)) * 1000;
}

/**
 * Decides what follows a round, updating `state` in place.
 *
 * - `ok`: reset the counters; wait `restart_delay_s` (0 allowed).
 * - transient (rate limit, overload, 5xx, network, timeout, hang): never counts toward the
 *   crash-loop breaker; wait until the CLI's reset time plus jitter when it gave one, else
 *   exponential back-off with a cap and jitter. With `transient_error_action = "stop"`, stop.
 * - `auth`: pause; retry after `auth.probe_interval_s` — a round fails within seconds on a
 *   bad credential because the classifier ends it at the first authentication error, so the
 *   retry is the cheap probe.
 * - `crash` / `config`: a failure of the agent itself. Short ones (under
 *   `crash_loop.short_round_s`) count toward the breaker; the delay escalates exponentially,
 *   and at `crash_loop.threshold` consecutive short failures the breaker opens: a cool-down of
 *   `crash_loop.cooldown_s`, after which one round tries whether the cause is gone. Any crash
 *   while it is open (the try) re-opens it with the cool-down doubled, up to `cooldown_max_s`;
 *   an `ok` round closes it. With `cooldown_s = 0` the loop stops instead (a hard stop).
 *
 * @param jitter returns a number in [0, 1) (Math.random by default; injected in tests).
 */
export function decide(
  settings: PolicySettings,
  state: PolicyState,
  verdict: Pick<Verdict, 'class' | 'reset_at_ms'>,
  durationMs: number,
  nowMs: number,
  jitter: () => number = Math.random,
): Decision {
  const jitterMs = Math.round(jitter() * settings.backoff.jitter_s * 1000);
  const cls = verdict.class;
  if (cls === 'ok') {
    state.transient = 0;
    state.shortFailures = 0;
    state.failures = 0;
    delete state.authSinceMs;
    delete state.breakerCooldownS;
    return { action: 'continue', delayMs: settings.restart_delay_s * 1000, reason: 'ok' };
  }
  state.failures += 1;
  if (cls === 'auth') {
    state.authSinceMs ??= nowMs;
    return { action: 'continue', delayMs: settings.auth.probe_interval_s * 1000, reason: 'auth' };
  }
  if (TRANSIENT.has(cls)) {
    state.transient += 1;
    if (settings.transient_error_action === 'stop') return { action: 'stop', reason: 'transient_error', consecutive: state.transient };
    if (verdict.reset_at_ms !== undefined && verdict.reset_at_ms > nowMs) {
      const untilMs = verdict.reset_at_ms + jitterMs;
      return { action: 'continue', delayMs: untilMs - nowMs, reason: 'transient', untilMs };
    }
    const delayMs = exponentialMs(settings.backoff, state.transient) + jitterMs;
    return { action: 'continue', delayMs, reason: 'transient', untilMs: nowMs + delayMs };
  }
  // crash or config: the agent itself failed.
  if (durationMs < settings.crash_loop.short_round_s * 1000) state.shortFailures += 1;
  else state.shortFailures = 0;
  const open = state.breakerCooldownS !== undefined;
  if (open || state.shortFailures >= settings.crash_loop.threshold) {
    const { cooldown_s: base, cooldown_max_s: cap } = settings.crash_loop;
    if (base <= 0) return { action: 'stop', reason: 'crash_loop', consecutive: state.shortFailures };
    const cooldownS = open ? Math.min(cap, Math.max(base, 2 * (state.breakerCooldownS as number))) : base;
    state.breakerCooldownS = cooldownS;
    return {
      action: 'cool_down',
      reason: 'crash_loop',
      consecutive: state.shortFailures,
      delayMs: cooldownS * 1000,
      untilMs: nowMs + cooldownS * 1000,
      cooldownS,
    };
  }
  const delayMs = state.shortFailures > 0 ? exponentialMs(settings.backoff, state.shortFailures) : settings.restart_delay_s * 1000;
  return { action: 'continue', delayMs, reason: 'failure', untilMs: nowMs + delayMs };
}
