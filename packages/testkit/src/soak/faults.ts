/**
 * What the soak injects, as data: for each fault kind, whether a human must hear of it (the
 * alarm cause the receivers must get exactly once, with exactly one recovery), what the soak
 * does as the operator (the only interventions it may make), and the work time the fault
 * legitimately costs (its allowance), computed from the configured settings and the episode's
 * own parameters, never from what the product then did.
 */
import type { AlarmCause } from '@agent-runner/core/alarms';
import type { FakeScenario } from '../fake-claude.js';
import type { SoakSettings } from './config.js';

/** Every fault the soak can inject. */
export type FaultKind =
  | 'rate_limit'
  | 'overloaded'
  | 'crash'
  | 'hang'
  | 'large_output'
  | 'dirty_tree'
  | 'auth_outage'
  | 'crash_loop'
  | 'sigstop_serve'
  | 'sigkill_serve'
  | 'sigkill_bridge'
  | 'sigkill_watchdog'
  | 'disk_full'
  | 'operator_pause'
  | 'config_broken'
  | 'webhook_500'
  | 'webhook_refuse';

/** Parameters of one injected fault (drawn from the seed). */
export interface FaultParams {
  /** Seconds the fault lasts (auth outage until re-login, disk full, pause, broken config until fixed, receiver window). */
  duration_s?: number;
  /** rate_limit: `resetsAt` this far ahead. */
  reset_s?: number;
  /** sigkill_serve, sigstop_serve: seconds into a (slow) round; 0 for sigstop_serve: between two rounds. */
  at_s?: number;
}

/** What the product's own configuration fixes about the time a fault costs. */
export interface AllowanceInputs {
  settings: SoakSettings;
  /** `RestartUSec` of the serve unit as systemd reports it, s. */
  restartSec: number;
}

/** One fault kind. */
export interface FaultSpec {
  /** One line for reports. */
  what: string;
  /** `main`: one at a time, between runs of ok rounds; `receiver`: a window that overlaps them. */
  track: 'main' | 'receiver';
  /** The alarm a human must get once (and its recovery once); null: no notification at all. */
  alarm: AlarmCause | null;
  /** What the soak does as the operator to end it; null: it must heal with nobody's help. */
  operator: string | null;
  /** The fake CLI's scenario for the round that carries it (agent faults). */
  scenario?: FakeScenario;
  /** Seconds of work the fault may cost, from its start (a planned round's start, or the injection). */
  allowance(p: FaultParams, a: AllowanceInputs): number;
}

/** A fake round of the success capture takes about this long, s (replay plus git). */
export const ROUND_S = 1;
/** Start-up of a unit until its first round or poll, s (node, config, ledger). */
export const START_S = 5;

const backoff1 = (a: AllowanceInputs): number => a.settings.backoff.base_s + a.settings.backoff.jitter_s;

/** The catalogue. */
export const FAULTS: Readonly<Record<FaultKind, FaultSpec>> = {
  rate_limit: {
    what: 'rate_limit_event rejected, resetsAt a few seconds ahead',
    track: 'main',
    alarm: null,
    operator: null,
    scenario: 'rate_limit',
    allowance: (p, a) => ROUND_S + (p.reset_s ?? 5) + a.settings.backoff.jitter_s + a.settings.restart_delay_s,
  },
  overloaded: {
    what: 'system/api_retry 529 overloaded, then an error result',
    track: 'main',
    alarm: null,
    operator: null,
    scenario: 'overloaded',
    allowance: (_p, a) => ROUND_S + backoff1(a),
  },
  crash: {
    what: 'the CLI dies at once (stack trace, exit 1)',
    track: 'main',
    alarm: null,
    operator: null,
    scenario: 'crash',
    allowance: (_p, a) => ROUND_S + backoff1(a),
  },
  hang: {
    what: 'the CLI goes silent until the inactivity timeout',
    track: 'main',
    alarm: null,
    operator: null,
    scenario: 'hang',
    allowance: (_p, a) => ROUND_S + a.settings.inactivity_timeout_s + a.settings.kill_grace_s + backoff1(a),
  },
  large_output: {
    what: 'a successful round with a burst of 4 MiB of tool output',
    track: 'main',
    alarm: null,
    operator: null,
    scenario: 'large_output',
    allowance: () => 0,
  },
  dirty_tree: {
    what: 'a successful round that leaves its file uncommitted (must be stashed by SHA)',
    track: 'main',
    alarm: null,
    operator: null,
    scenario: 'dirty',
    allowance: () => 0,
  },
  auth_outage: {
    what: 'every round fails authentication (401) until the re-login',
    track: 'main',
    alarm: 'auth_paused',
    operator: "re-login (the fake's credentials flipped back)",
    allowance: (p, a) => (p.duration_s ?? 120) + a.settings.auth_probe_interval_s + ROUND_S,
  },
  crash_loop: {
    what: 'the CLI crashes at every start until it is fixed (a bad update): a crash loop the breaker stops',
    track: 'main',
    alarm: 'crash_loop',
    operator: null,
    // The loop: `threshold` crashes with their back-offs; then the cool-down and the half-open
    // try, which succeeds because the CLI works again by then (issue 19 #3).
    allowance: (_p, a) =>
      a.settings.crash_loop.threshold * (ROUND_S + a.settings.backoff.max_s) + a.settings.crash_loop.cooldown_s + ROUND_S,
  },
  sigstop_serve: {
    what: 'serve frozen (SIGSTOP), never continued',
    track: 'main',
    alarm: null,
    operator: null,
    // Stale after stale_after_s, one tier per cooldown (marker, SIGTERM, SIGKILL + restart), then a start.
    allowance: (p, a) =>
      (p.at_s ?? 0) + a.settings.watchdog.stale_runner_s + 3 * a.settings.watchdog.tier_cooldown_s + a.restartSec + START_S,
  },
  sigkill_serve: {
    what: 'serve SIGKILLed in the middle of a round',
    track: 'main',
    alarm: null,
    operator: null,
    scenario: 'slow',
    allowance: (p, a) => (p.at_s ?? 0) + a.restartSec + START_S,
  },
  sigkill_bridge: {
    what: 'the bridge SIGKILLed',
    track: 'main',
    alarm: null,
    operator: null,
    allowance: () => 0,
  },
  sigkill_watchdog: {
    what: 'the watchdog SIGKILLed',
    track: 'main',
    alarm: null,
    operator: null,
    allowance: () => 0,
  },
  disk_full: {
    what: 'the state file system (tmpfs) filled to the last byte, then freed',
    track: 'main',
    alarm: 'disk_full',
    operator: null,
    allowance: (p, a) => (p.duration_s ?? 30) + 2 * a.settings.heartbeat_interval_s + a.settings.restart_delay_s + ROUND_S,
  },
  operator_pause: {
    what: 'an operator /pause, then /resume, over the chat',
    track: 'main',
    alarm: null,
    operator: '/pause and /resume from the allowed chat user (the fault itself)',
    allowance: (p, a) => (p.duration_s ?? 20) + 1 + a.settings.restart_delay_s + ROUND_S,
  },
  config_broken: {
    what: 'agent-runner.toml made invalid; serve crashes and restarts into it; fixed later',
    track: 'main',
    alarm: 'config_broken',
    operator: 'config fixed, then `agent-runner start`',
    allowance: (p, a) => (p.duration_s ?? 20) + a.restartSec + START_S,
  },
  webhook_500: {
    what: 'the webhook receiver answers 500',
    track: 'receiver',
    alarm: null,
    operator: null,
    allowance: () => 0,
  },
  webhook_refuse: {
    what: 'the webhook receiver refuses connections',
    track: 'receiver',
    alarm: null,
    operator: null,
    allowance: () => 0,
  },
};
