/**
 * The anomaly detectors. Each one reads the latest {@link HostSnapshot} and the
 * {@link EventWindow} (both O(1) to consult) and says whether its condition holds now. A
 * detector never acts by itself: the alert sink raises/clears ledger alerts, notifies and,
 * for `auto-stop` detectors, stops the runner.
 *
 * Policies: `auto-stop` only where continuing does harm — authentication failures (every
 * round re-sends the prompt and burns quota or gets the account flagged) and a disk about to
 * fill (the ledger and git objects corrupt or fail on ENOSPC). Everything else notifies:
 * transient outages heal by themselves and a stopped runner cannot recover. Even an auto-stop
 * detector stops only a runner that runs rounds unprotected ({@link runnerPause}): one that
 * holds rounds itself (logged out, budget spent, disk full, ...) resumes by itself, and
 * stopping it would turn that into a manual intervention.
 *
 * One cause, one alarm: where the runner or the watchdog raises its own alarm for what a
 * detector sees (`coveredBy`), the detector's alert is recorded but not notified while that
 * alarm is active. Benign detectors (a self-healing wait) are recorded, not notified, unless
 * `monitor.notify_benign`.
 */
import type { AlarmCause } from '@agent-runner/core/alarms';
import { DISK_FULL_FREE_BYTES } from '@agent-runner/core/disk';
import type { Severity } from '@agent-runner/core/ledger';
import type { MonitorSettings } from './settings.js';
import type { HostSnapshot } from './snapshot.js';
import type { EventWindow, RoundOutcome } from './window.js';

/** What a detector does when it fires. */
export type Policy = 'notify' | 'auto-stop';

/** A condition a detector found. */
export interface Finding {
  detector: string;
  severity: Severity;
  policy: Policy;
  /** One line for humans. */
  message: string;
  /** What the detector saw (stored as JSON in the ledger). */
  evidence: Record<string, unknown>;
  /** The detector's {@link Detector.fix}. */
  fix: string;
  /** The detector reports a self-healing wait (see {@link Detector.benign}). */
  benign: boolean;
  /** Alarm causes of the runner/watchdog that report the same thing ({@link Detector.coveredBy}). */
  coveredBy: readonly AlarmCause[];
  /** More than the message, first in the notification's body (a detector hook's alert `body`). */
  detail?: string;
}

/** Input of every detector. */
export interface DetectorInput {
  /** Latest snapshot; undefined when none could be taken (then snapshot detectors stay quiet). */
  snapshot: HostSnapshot | undefined;
  window: EventWindow;
  settings: MonitorSettings;
  /** Wall clock, epoch ms. */
  nowMs: number;
}

/** One detector. */
export interface Detector {
  readonly name: string;
  readonly severity: Severity;
  readonly policy: Policy;
  /** The default threshold in words (RUNBOOK and `--help` show it). */
  readonly threshold: string;
  /** The one thing to do about it (the notification's last line). */
  readonly fix: string;
  /** A self-healing wait: recorded and shown, notified only with `monitor.notify_benign`. */
  readonly benign?: boolean;
  /** Alarms of the runner/watchdog for the same cause; while one is active, the alert is not notified. */
  readonly coveredBy?: readonly AlarmCause[];
  /** The finding's message and evidence when the condition holds, else undefined. */
  evaluate(input: DetectorInput): Pick<Finding, 'message' | 'evidence'> | undefined;
}

const FINISHED_INTERRUPT = new Set(['interrupted']);
const pct = (x: number): string => `${Math.round(x * 10) / 10}%`;

function windowRounds(i: DetectorInput): RoundOutcome[] {
  return i.window.lastRounds(i.settings.window_rounds).filter((r) => !FINISHED_INTERRUPT.has(r.classification));
}

function defense(s: HostSnapshot | undefined, key: string): number | undefined {
  const v = s?.defenses[key];
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

function countIn(i: DetectorInput, pred: (r: RoundOutcome) => boolean): { hits: RoundOutcome[]; of: number } {
  const rounds = windowRounds(i);
  return { hits: rounds.filter(pred), of: rounds.length };
}

/**
 * Why the runner is holding rounds by itself, or null when it runs them unprotected: the
 * pause its heartbeat reports (`service.pause`; `paused` activity without a reason counts
 * too), or — for a runner that does not report one — an `auth_paused` it has not recovered
 * from. Only an unprotected runner is ever auto-stopped.
 */
export function runnerPause(s: HostSnapshot | undefined, w: EventWindow): string | null {
  if (!s || s.service.state !== 'running') return null;
  if (s.service.pause) return s.service.pause;
  if (s.service.activity === 'paused') return 'paused';
  return w.authPaused ? 'auth' : null;
}

/**
 * `timeout_rate` (warning, notify): at least 3 rounds and 30% of the last 10 ended by a
 * timeout (class `timeout`, or `hang` — killed for the wall clock, inactivity or the grace).
 * One timeout is normal for a long task; a third of the window means `round_timeout_s` or
 * `inactivity_timeout_s` does not fit the work, or the agent keeps stalling, and each such
 * round burns its whole timeout.
 */
export const timeoutRate: Detector = {
  name: 'timeout_rate',
  severity: 'warning',
  policy: 'notify',
  threshold: '>= 3 and >= 30% of the last 10 rounds timed out or hung',
  fix: 'Look at the rounds that timed out (agent-runner peek --round latest --log); raise runtime.round_timeout_s or inactivity_timeout_s if the work needs it.',
  evaluate(i) {
    const { hits, of } = countIn(i, (r) => r.classification === 'timeout' || r.classification === 'hang');
    if (hits.length < i.settings.timeout_min || hits.length / Math.max(of, 1) < i.settings.timeout_rate) return undefined;
    return {
      message: `${hits.length}/${of} recent rounds timed out or hung`,
      evidence: { rounds: hits.map((r) => ({ round: r.round, classification: r.classification, killed_by: r.killed_by ?? null })) },
    };
  },
};

/**
 * `hung` (critical, notify): the current round has run `hung_grace_s` (120 s) past its
 * `round_timeout_s`. The runner kills a round at that ceiling (plus `kill_grace_s`); a round
 * still running 2 minutes later means the runner's own defence failed (a stopped or wedged
 * serve process, an unkillable agent in uninterruptible sleep). Stopping would not help — the
 * serve process is what is stuck — so it notifies an operator.
 */
export const hung: Detector = {
  name: 'hung',
  severity: 'critical',
  policy: 'notify',
  threshold: 'current round older than round_timeout_s + 120 s',
  fix: "serve is wedged: agent-runner restart, then journalctl -u 'agent-runner@*' -n 100",
  evaluate(i) {
    const cur = i.snapshot?.current_round;
    const timeout = defense(i.snapshot, 'round_timeout_s');
    if (!cur || timeout === undefined) return undefined;
    const limit = timeout + i.settings.hung_grace_s;
    if (cur.elapsed_s <= limit) return undefined;
    return {
      message: `round ${cur.round} has run ${Math.round(cur.elapsed_s)} s, past its ${timeout} s timeout`,
      evidence: { round: cur.round, elapsed_s: cur.elapsed_s, round_timeout_s: timeout, hung_grace_s: i.settings.hung_grace_s },
    };
  },
};

/**
 * `orphan_chain` (warning, notify): 3 rounds in a row left uncommitted work that the runner
 * stashed, with no commit since. Work is being produced and shelved round after round;
 * nothing lands, and every later round builds on a tree without it. One stash is routine
 * (an interrupted round); three in a row is a pattern.
 */
export const orphanChain: Detector = {
  name: 'orphan_chain',
  severity: 'warning',
  policy: 'notify',
  threshold: '>= 3 consecutive rounds ended with their work stashed',
  fix: 'Look at the stashed work (git stash list; agent-runner peek) and commit what is worth keeping.',
  evaluate(i) {
    // Two witnesses: the `vcs_stashed` events in a row, and the newest finished rounds that
    // each have a runner stash (peek's `orphan_stashes`); either chain counts.
    const s = i.snapshot;
    let fromGit = 0;
    const stashed = new Map((s?.orphan_stashes ?? []).filter((x) => x.round !== undefined).map((x) => [x.round as number, x.sha]));
    const shas: string[] = [];
    for (const r of s?.rounds ?? []) {
      if (r.status === 'running') continue;
      const sha = stashed.get(r.round);
      if (sha === undefined) break;
      fromGit++;
      shas.push(sha);
    }
    const n = Math.max(i.window.stashChain, fromGit);
    if (n < i.settings.orphan_chain_min) return undefined;
    return {
      message: `${n} rounds in a row left work that was stashed, not committed`,
      evidence: {
        consecutive: n,
        stashes: fromGit >= i.window.stashChain ? shas.reverse() : i.window.stashShas,
        orphan_stashes: s?.orphan_stashes.length ?? null,
      },
    };
  },
};

/** The disk figure: the fuller of the state and log file systems (statfs, as peek and doctor show it). */
const diskMessage = (d: NonNullable<HostSnapshot['system']['disk']>): string =>
  `disk ${pct(d.used_pct)} used at ${d.path} (${Math.round(d.free_bytes / 1048576)} MiB free)`;
const diskIsCritical = (d: NonNullable<HostSnapshot['system']['disk']>, s: MonitorSettings): boolean =>
  d.used_pct >= s.disk_critical_pct || d.free_bytes < DISK_FULL_FREE_BYTES;

/**
 * `disk_warning` (warning, notify): the fuller of the state and log file systems is 90% full.
 * On a 32 GB SD card that is ~3 GB left: days of round logs, time to prune.
 */
export const diskWarning: Detector = {
  name: 'disk_warning',
  severity: 'warning',
  policy: 'notify',
  threshold: 'state or log file system >= 90% used',
  coveredBy: ['disk_full'],
  fix: 'Free space: old round logs and event files can go (RUNBOOK.md, "Disk pressure"); journalctl --vacuum-size=200M',
  evaluate(i) {
    const d = i.snapshot?.system.disk;
    if (!d || d.used_pct < i.settings.disk_warning_pct || diskIsCritical(d, i.settings)) return undefined;
    return { message: diskMessage(d), evidence: { ...d } };
  },
};

/**
 * `disk_critical` (critical, auto-stop): 95% full, or less free than a round needs (core/disk
 * `DISK_FULL_FREE_BYTES`, 64 MiB: where the runner holds rounds itself). SQLite needs free
 * space for its WAL and checkpoints and git for objects; ENOSPC in the middle of a round or a
 * commit corrupts work. Stopping a runner that still runs rounds is the harmless choice; a
 * runner already holding rounds for the disk is left alone (its `disk_full` alarm told the
 * operator).
 */
export const diskCritical: Detector = {
  name: 'disk_critical',
  severity: 'critical',
  policy: 'auto-stop',
  threshold: 'state or log file system >= 95% used, or < 64 MiB free',
  coveredBy: ['disk_full'],
  fix: 'Free space now: old round logs and event files can go (RUNBOOK.md, "Disk pressure"); journalctl --vacuum-size=200M',
  evaluate(i) {
    const d = i.snapshot?.system.disk;
    if (!d || !diskIsCritical(d, i.settings)) return undefined;
    return { message: diskMessage(d), evidence: { ...d } };
  },
};

/**
 * `mem_pressure` (warning, notify): available memory (MemAvailable) below 10% of the total.
 * Below that the kernel reclaims page cache hard and the OOM killer is near; on a 512 MB Pi
 * that is ~50 MB, less than one agent CLI's heap.
 */
export const memPressure: Detector = {
  name: 'mem_pressure',
  severity: 'warning',
  policy: 'notify',
  threshold: 'available memory < 10% of total',
  fix: 'See what uses the memory: ps aux --sort=-rss | head',
  evaluate(i) {
    const m = i.snapshot?.system.memory;
    if (!m || m.total_bytes <= 0) return undefined;
    const availPct = (100 * m.available_bytes) / m.total_bytes;
    if (availPct >= i.settings.mem_available_min_pct) return undefined;
    return {
      message: `only ${pct(availPct)} of memory available (${Math.round(m.available_bytes / 1048576)} MiB)`,
      evidence: { ...m, available_pct: availPct },
    };
  },
};

/**
 * `network_fail` (warning, notify): 3 of the last 10 rounds failed on the network. Outages
 * heal by themselves and the runner backs off, so the service keeps running; sustained
 * failures are worth a look at the host's network or the provider.
 */
export const networkFail: Detector = {
  name: 'network_fail',
  severity: 'warning',
  policy: 'notify',
  threshold: '>= 3 of the last 10 rounds classified network',
  fix: "Check the host's network and the provider's status page; the runner backs off and retries by itself.",
  evaluate(i) {
    const { hits, of } = countIn(i, (r) => r.classification === 'network');
    if (hits.length < i.settings.network_fail_min) return undefined;
    return { message: `${hits.length}/${of} recent rounds failed on the network`, evidence: { rounds: hits.map((r) => r.round) } };
  },
};

/**
 * `rate_limit_active` (warning, notify, benign): the runner is waiting out a rate limit (an
 * active shared throttle, or a `rate_limit` back-off whose end is in the future). Clears by
 * itself when the wait ends or `transient_error_recovered` arrives. No auto-stop and, unless
 * `monitor.notify_benign`, no notification: the wait is the cure.
 */
export const rateLimitActive: Detector = {
  name: 'rate_limit_active',
  severity: 'warning',
  policy: 'notify',
  benign: true,
  threshold: 'a rate-limit throttle or back-off in force',
  fix: 'Nothing: rounds resume by themselves when the limit resets.',
  evaluate(i) {
    const s = i.snapshot;
    // A stopped runner is not being throttled (the shared throttle row may outlive it).
    if (s?.service.state === 'stopped') return undefined;
    if (s?.rate_limit && Date.parse(s.rate_limit.throttled_until) > i.nowMs) {
      return { message: `rate limited until ${s.rate_limit.throttled_until} (${s.rate_limit.class})`, evidence: { ...s.rate_limit } };
    }
    if (s?.backoff && s.backoff.class === 'rate_limit' && Date.parse(s.backoff.until) > i.nowMs) {
      return { message: `backing off a rate limit until ${s.backoff.until}`, evidence: { ...s.backoff } };
    }
    const b = i.window.backoff;
    if (b && b.class === 'rate_limit' && b.untilMs > i.nowMs) {
      if (i.window.recoveredAtMs !== undefined && i.window.recoveredAtMs > b.untilMs) return undefined;
      return {
        message: `backing off a rate limit until ${new Date(b.untilMs).toISOString()}`,
        evidence: { class: b.class, until: new Date(b.untilMs).toISOString() },
      };
    }
    return undefined;
  },
};

/**
 * `anomaly_repetitive` (warning, notify): the last 5 finished rounds failed identically
 * (same class, exit status, signal and summary). The crash-loop breaker counts only short
 * crashes; this catches the repeats it does not (long crashes, the same transient failure
 * over and over, the same config error after each restart). Five matches the breaker's
 * default threshold, so both agree on what "a loop" is.
 */
export const anomalyRepetitive: Detector = {
  name: 'anomaly_repetitive',
  severity: 'warning',
  policy: 'notify',
  threshold: 'last 5 rounds failed with an identical signature',
  // Auth probes of a paused runner fail alike by design: its auth_paused alarm said it.
  coveredBy: ['crash_loop', 'auth_paused'],
  fix: 'Look at the last round: agent-runner peek --round latest --log',
  evaluate(i) {
    const n = i.settings.anomaly_repeat;
    const last = i.window.lastRounds(n);
    if (last.length < n) return undefined;
    const sig = (r: RoundOutcome): string => JSON.stringify([r.classification, r.exit_code, r.signal, r.summary]);
    const first = last[0] as RoundOutcome;
    if (first.classification === 'ok' || !last.every((r) => sig(r) === sig(first))) return undefined;
    return {
      message: `${n} rounds in a row ended the same way: ${first.classification} (exit ${first.exit_code ?? first.signal ?? '?'})${first.summary ? `: ${first.summary}` : ''}`,
      evidence: {
        signature: { classification: first.classification, exit_code: first.exit_code, signal: first.signal, summary: first.summary },
        rounds: last.map((r) => r.round),
      },
    };
  },
};

/**
 * `supervisor_stale` (critical, notify): no runner event for `supervisor_stale_threshold_s`
 * (default 1.5 x `round_timeout_s`: the longest legitimate silence is one round) while the
 * runner did not stop cleanly and is not waiting out a back-off; or a live runner whose
 * heartbeat is that old. The serve process is wedged between rounds or died without a word.
 */
export const supervisorStale: Detector = {
  name: 'supervisor_stale',
  severity: 'critical',
  policy: 'notify',
  threshold: 'no runner event for 1.5 x round_timeout_s (0: off)',
  fix: 'agent-runner status, then agent-runner restart',
  evaluate(i) {
    const s = i.snapshot;
    const timeout = defense(s, 'round_timeout_s');
    const threshold = i.settings.supervisor_stale_threshold_s ?? (timeout !== undefined ? 1.5 * timeout : undefined);
    if (!threshold) return undefined;
    const w = i.window;
    if (s?.service.state === 'running' && s.service.heartbeat_age_s !== null && s.service.heartbeat_age_s > threshold) {
      return {
        message: `runner heartbeat is ${Math.round(s.service.heartbeat_age_s)} s old (threshold ${threshold} s)`,
        evidence: { heartbeat_age_s: s.service.heartbeat_age_s, threshold_s: threshold },
      };
    }
    if (w.stoppedReason !== undefined) return undefined;
    if (w.backoff && w.backoff.untilMs > i.nowMs) return undefined;
    if (s?.backoff && Date.parse(s.backoff.until) > i.nowMs) return undefined;
    const last = w.lastRunnerEventMs;
    if (last === undefined) return undefined;
    const age = (i.nowMs - last) / 1000;
    if (age <= threshold) return undefined;
    return {
      message: `no runner event for ${Math.round(age)} s (threshold ${threshold} s); service ${s?.service.state ?? 'unknown'}`,
      evidence: {
        last_event_at: new Date(last).toISOString(),
        age_s: age,
        threshold_s: threshold,
        service_state: s?.service.state ?? null,
      },
    };
  },
};

/**
 * `oauth_fail` (critical, auto-stop): 2 rounds failed authentication since the last round
 * that succeeded. One 401 can be a token refreshed mid-request; two with no success between
 * mean the credentials are bad. A success between them proves the login worked again, so
 * isolated 401s that the runner paused on and recovered from never add up. The runner pauses
 * on an auth failure by itself and probes (`auth_paused`, its own alarm): then this alert is
 * recorded, not notified, and the runner is not stopped (see {@link runnerPause}). Only a
 * runner that keeps sending rounds to be rejected (quota, account flags) is auto-stopped.
 */
export const oauthFail: Detector = {
  name: 'oauth_fail',
  severity: 'critical',
  policy: 'auto-stop',
  threshold: '>= 2 rounds classified auth since the last ok round',
  fix: 'Log the agent in again as the service user (agent.auth_fail_hint says how); the runner resumes by itself.',
  coveredBy: ['auth_paused'],
  evaluate(i) {
    const rounds = windowRounds(i);
    const hits = rounds.slice(rounds.findLastIndex((r) => r.classification === 'ok') + 1).filter((r) => r.classification === 'auth');
    if (hits.length < i.settings.oauth_fail_min) return undefined;
    const paused = runnerPause(i.snapshot, i.window) === 'auth';
    const hint = typeof i.snapshot?.defenses['auth_fail_hint'] === 'string' ? String(i.snapshot.defenses['auth_fail_hint']) : undefined;
    return {
      message: `${hits.length} rounds failed authentication since the last successful one; ${paused ? 'the runner holds rounds and probes the login' : 'rounds keep running'}${hint ? ` (${hint})` : ''}`,
      evidence: { rounds: hits.map((r) => ({ round: r.round, summary: r.summary })), runner_paused: paused },
    };
  },
};

/**
 * `cost_budget` (warning, notify): today's (UTC) reported cost reached the budget
 * (`monitor.cost_budget_usd`, else the host's `daily_cost_budget_usd`). The runner itself stops
 * starting rounds at its budget; the alert tells the operator why work paused, or — with a
 * monitor-only budget — that spending crossed the line they chose.
 */
export const costBudget: Detector = {
  name: 'cost_budget',
  severity: 'warning',
  policy: 'notify',
  threshold: "today's cost >= the daily budget (off when no budget is set)",
  coveredBy: ['budget_exhausted'],
  fix: 'Raise monitor.cost_budget_usd or runtime.daily_cost_budget_usd, or wait for the next UTC day.',
  evaluate(i) {
    const s = i.snapshot;
    if (!s) return undefined;
    const budget = i.settings.cost_budget_usd > 0 ? i.settings.cost_budget_usd : (defense(s, 'daily_cost_budget_usd') ?? 0);
    if (budget <= 0) return undefined;
    const spent = s.today.cost_usd;
    if (spent < budget * i.settings.cost_warn_ratio) return undefined;
    return {
      message: `today's cost $${spent.toFixed(2)} reached the $${budget.toFixed(2)} budget`,
      evidence: { cost_usd: spent, budget_usd: budget, rounds_today: s.today.rounds },
    };
  },
};

/**
 * `heal_circuit_broken` (critical, notify): the watchdog opened a heal circuit breaker (T4):
 * it stopped acting on a unit after repeated failed heals and waits for an operator reset.
 */
export const healCircuitBroken: Detector = {
  name: 'heal_circuit_broken',
  severity: 'critical',
  policy: 'notify',
  threshold: 'any watchdog breaker open',
  coveredBy: ['breaker_open'],
  fix: 'Fix the cause, then: agent-runner heal reset <target> --reason "..."',
  evaluate(i) {
    const open = new Set([...i.window.breakersOpen, ...(i.snapshot?.heal_breakers_open ?? [])]);
    if (open.size === 0) return undefined;
    return {
      message: `watchdog circuit breaker open for ${[...open].join(', ')}; reset with \`agent-runner heal reset\``,
      evidence: { targets: [...open] },
    };
  },
};

/** Every detector, in report order. */
export const DETECTORS: readonly Detector[] = [
  timeoutRate,
  hung,
  orphanChain,
  diskWarning,
  diskCritical,
  memPressure,
  networkFail,
  rateLimitActive,
  anomalyRepetitive,
  supervisorStale,
  oauthFail,
  costBudget,
  healCircuitBroken,
];

/** Runs every enabled detector; returns the findings that hold now. */
export function runDetectors(input: DetectorInput, detectors: readonly Detector[] = DETECTORS): Finding[] {
  const out: Finding[] = [];
  for (const d of detectors) {
    if (input.settings.disable.includes(d.name)) continue;
    const f = d.evaluate(input);
    if (f)
      out.push({
        detector: d.name,
        severity: d.severity,
        policy: d.policy,
        fix: d.fix,
        benign: d.benign === true,
        coveredBy: d.coveredBy ?? [],
        ...f,
      });
  }
  return out;
}
