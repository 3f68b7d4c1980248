/**
 * What the runner's heartbeat says it is doing: the state and detail the watchdog, peek and the
 * monitor read from `run/heartbeat-runner.json` (DESIGN.md; core/peek exposes `detail.pause` as
 * `service.pause`).
 */
import type { PeekPause } from '@agent-runner/core/peek';

/**
 * `starting` (enrolled, no round yet), `round` (a round runs), `waiting` (a restart delay or a
 * back-off after a failure), `paused` (a hold that lasts until its cause is gone; see
 * {@link PauseReason}).
 */
export type RunnerState = 'starting' | 'round' | 'waiting' | 'paused';

/**
 * Why a paused runner holds its rounds: `auth` (login rejected, probing), `budget` (daily
 * cost reached), `disk` (state or log file system full), `operator` (pause marker), `throttle`
 * (a rate limit of the account, its own or a sibling runner's), `crash_loop` (breaker open,
 * cooling down). A monitor must not auto-stop a runner held for any of these: it is safe and
 * resumes by itself (operator: when resumed). The list is core/peek's, which the monitor reads.
 */
export type PauseReason = PeekPause;

/** The heartbeat's `detail`. */
export interface RunnerDetail {
  /** The round running (state `round`). */
  round?: number;
  /** Why it is paused (state `paused`). */
  pause?: PauseReason;
  /** ISO-8601 UTC end of the wait or pause, when known (a disk pause has none). */
  until?: string;
}

/** Sets what the heartbeat reports and writes it at once. */
export type ShowActivity = (state: RunnerState, detail?: RunnerDetail) => void;

/** `{ pause, until }` for a pause ending at `untilMs` (ms since epoch; null/undefined: open-ended). */
export function pausedUntil(pause: PauseReason, untilMs: number | null | undefined): RunnerDetail {
  return untilMs === null || untilMs === undefined ? { pause } : { pause, until: new Date(untilMs).toISOString() };
}
