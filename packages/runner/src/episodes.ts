import { hostname } from 'node:os';
import { clearAlarm, raiseAlarm, type AlarmFacts } from '@agent-runner/core/alarms';
import type { Ledger } from '@agent-runner/core/ledger';

/** The alarm causes the runner owns (core/alarms `ALARMS`, owner `runner`). */
export type RunnerCause = 'crash_loop' | 'config_broken' | 'auth_paused' | 'budget_exhausted' | 'disk_full' | 'transient_stop';

const CAUSES: ReadonlySet<string> = new Set<RunnerCause>([
  'crash_loop',
  'config_broken',
  'auth_paused',
  'budget_exhausted',
  'disk_full',
  'transient_stop',
]);

/** An open episode as the ledger holds it. */
export interface OpenEpisode {
  /** When it was raised, ms since epoch. */
  raisedAtMs: number;
  /** The facts it was last raised (or refreshed) with. */
  facts: AlarmFacts;
}

/**
 * The runner's open alarm episodes: one alarm and one recovery per fault episode, however many
 * rounds, probes or restarts of serve see it. The ledger's `alerts` rows are the truth (an
 * episode opened by a previous serve is still open here); this keeps the set in memory so
 * the loop does not query the ledger before every round.
 */
export class Episodes {
  private readonly open = new Map<RunnerCause, OpenEpisode>();
  private readonly host = hostname();

  /** Loads the episodes this project's runner has open on this host. */
  constructor(
    private readonly ledger: Ledger,
    private readonly project: string,
    private readonly now: () => number,
  ) {
    for (const a of ledger.monitor.activeAlerts({ host: this.host, project, raisedBy: 'runner' })) {
      if (CAUSES.has(a.detector))
        this.open.set(a.detector as RunnerCause, { raisedAtMs: a.raisedAtMs, facts: (a.evidence ?? {}) as AlarmFacts });
    }
  }

  /** The open episode of `cause`, if any. */
  get(cause: RunnerCause): OpenEpisode | undefined {
    return this.open.get(cause);
  }

  /**
   * Opens the episode of `cause` and queues its alarm, or refreshes its facts when it is open.
   * @returns true when this call opened it.
   * @throws AgentRunnerError ERR_AR_LEDGER when the ledger write fails (a full disk included).
   */
  raise(cause: RunnerCause, facts: AlarmFacts): boolean {
    const atMs = this.now();
    const r = raiseAlarm(this.ledger, cause, facts, { project: this.project, host: this.host, atMs });
    this.open.set(cause, { raisedAtMs: this.open.get(cause)?.raisedAtMs ?? atMs, facts });
    return r.raised;
  }

  /**
   * Closes the episode of `cause` and queues its recovery; nothing when none is open.
   * @returns true when an episode was closed.
   * @throws AgentRunnerError ERR_AR_LEDGER when the ledger write fails.
   */
  clear(cause: RunnerCause, facts: AlarmFacts): boolean {
    if (!this.open.has(cause)) return false;
    const cleared = clearAlarm(this.ledger, cause, facts, { project: this.project, host: this.host, atMs: this.now() });
    this.open.delete(cause);
    return cleared;
  }
}
