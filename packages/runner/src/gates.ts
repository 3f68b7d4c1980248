import type { AgentRunnerConfig } from '@agent-runner/core/config';
import type { EventWriter } from '@agent-runner/core/events';
import type { Ledger } from '@agent-runner/core/ledger';
import type { ProjectPaths } from '@agent-runner/core/paths';
import { readPause } from '@agent-runner/core/requests';
import { sleep } from '@agent-runner/core/sleep';
import type { LogPriority } from '@agent-runner/core/unit';
import { pausedUntil, type ShowActivity } from './activity.js';
import type { DiskGuard } from './disk-gate.js';
import type { Episodes } from './episodes.js';
import { hostThrottle } from './throttle.js';

/** What the waits before a round need from the serve loop. */
export interface GateContext {
  cfg: AgentRunnerConfig;
  paths: ProjectPaths;
  ledger: Ledger;
  events: EventWriter;
  episodes: Episodes;
  disk: DiskGuard;
  /** The rate-limit account (the adapter name): runners sharing it honour one another's throttles. */
  account: string;
  now: () => number;
  /** Ends every wait at once (SIGTERM). */
  stopSignal: AbortSignal;
  log: (priority: LogPriority, line: string) => void;
  /** Sets the heartbeat's state and detail. */
  show: ShowActivity;
}

/**
 * Waits that hold the next round without being stop triggers: a (nearly) full disk, an
 * operator's pause, the daily cost budget, a rate limit another runner of this account
 * recorded. Each wait ends at once on SIGTERM. When none holds, rounds resume: the disk and
 * budget alarms still open (from this serve or a previous one) are cleared.
 * @returns true when it waited (the loop re-checks the stop triggers), false when a round may start.
 */
export async function holdBeforeRound(g: GateContext): Promise<boolean> {
  const { cfg, paths, ledger, events, now } = g;
  if (await g.disk.hold()) return true;
  const pause = readPause(paths, now());
  if (pause) {
    const from = now();
    events.emit('runner_paused', {
      requested_by: pause.requested_by,
      until: pause.until_ms === null ? null : new Date(pause.until_ms).toISOString(),
    });
    g.log(
      'notice',
      `paused by ${pause.requested_by}${pause.until_ms === null ? ' until resumed' : ` until ${new Date(pause.until_ms).toISOString()}`}`,
    );
    g.show('paused', pausedUntil('operator', pause.until_ms));
    while (readPause(paths, now())?.nonce === pause.nonce && (await sleep(1000, g.stopSignal)));
    events.emit('runner_resumed', { paused_s: Math.round((now() - from) / 1000) });
    return true;
  }
  const budget = cfg.runtime.daily_cost_budget_usd;
  if (budget > 0) {
    const day = new Date(now());
    const midnight = Date.UTC(day.getUTCFullYear(), day.getUTCMonth(), day.getUTCDate());
    const cost = ledger.runner.totalsSince(midnight).costUsd;
    if (cost >= budget) {
      const until = midnight + 86_400_000;
      const resumesAt = new Date(until).toISOString();
      events.emit('budget_exhausted', { cost_usd: cost, budget_usd: budget, until: resumesAt });
      g.log('warning', `daily cost budget reached ($${cost.toFixed(2)} of $${budget.toFixed(2)}); next round after ${resumesAt}`);
      g.show('paused', pausedUntil('budget', until));
      if (
        !(await g.disk.write('raise budget alarm', () =>
          g.episodes.raise('budget_exhausted', { spent_usd: cost, budget_usd: budget, resumes_at: resumesAt }),
        ))
      )
        return true;
      await sleep(until - now(), g.stopSignal);
      return true;
    }
  }
  const throttle = hostThrottle(paths, ledger, g.account, now());
  if (throttle) {
    const delayMs = throttle.untilMs - now();
    events.emit('backoff_started', {
      class: 'rate_limit',
      delay_s: Math.round(delayMs / 100) / 10,
      until: new Date(throttle.untilMs).toISOString(),
    });
    g.log(
      'warning',
      `account ${g.account} is rate limited until ${new Date(throttle.untilMs).toISOString()} (recorded in ${throttle.source})`,
    );
    g.show('paused', pausedUntil('throttle', throttle.untilMs));
    await sleep(delayMs, g.stopSignal);
    return true;
  }
  if (g.episodes.get('disk_full')) {
    const free = g.disk.measure()?.free_bytes ?? null;
    if (!(await g.disk.write('clear disk alarm', () => g.episodes.clear('disk_full', { free_bytes: free })))) return true;
  }
  if (g.episodes.get('budget_exhausted') && !(await g.disk.write('clear budget alarm', () => g.episodes.clear('budget_exhausted', {}))))
    return true;
  return false;
}
