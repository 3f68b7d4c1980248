/**
 * The seeded schedule of a soak: the order of the main-track faults, the ok rounds between
 * them, each fault's parameters, and the receiver windows laid over them. The same seed and
 * profile give the same schedule on every machine; only the timing of the product varies.
 */
import { SOAK_SETTINGS, type SoakSettings } from './config.js';
import { FAULTS, type FaultKind, type FaultParams } from './faults.js';

/** mulberry32: a small seeded PRNG, uniform in [0, 1). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

/** How big a soak is. */
export interface SoakProfile {
  name: string;
  /** Faults of each kind (receiver-track kinds included). */
  counts: Partial<Record<FaultKind, number>>;
  /** ok rounds before each main-track fault: [min, max]. */
  gap: [number, number];
  /** ok rounds before the first fault (RSS and throughput are measured from there). */
  warmupRounds: number;
  /** ok rounds after the last fault, before the final measurements. */
  tailRounds: number;
  /** The tail goes on until the faulted project has run this many rounds. */
  minRounds: number;
  /** Ranges of the drawn parameters, s. */
  authOutageS: [number, number];
  receiverWindowS: [number, number];
  /**
   * Size of the state tmpfs, MiB: the ledger must fit for the whole run, with room above the
   * runner's "disk full" floor (core/disk DISK_FULL_FREE_BYTES, 64 MiB).
   */
  stateFsMiB: number;
  /** The whole fault phase is abandoned (and reported) after this long, s. */
  maxWallS: number;
  /** The accelerated settings both projects run with. */
  settings: SoakSettings;
}

/** About 8 minutes on a 2-core machine: every kind at least once. */
export const CI_PROFILE: SoakProfile = {
  name: 'ci',
  counts: {
    rate_limit: 2,
    overloaded: 2,
    crash: 2,
    hang: 1,
    large_output: 1,
    dirty_tree: 2,
    auth_outage: 1,
    crash_loop: 1,
    sigstop_serve: 1,
    sigkill_serve: 2,
    sigkill_bridge: 2,
    sigkill_watchdog: 1,
    disk_full: 1,
    operator_pause: 1,
    config_broken: 1,
    webhook_500: 2,
    webhook_refuse: 1,
  },
  gap: [3, 5],
  warmupRounds: 15,
  tailRounds: 8,
  minRounds: 0,
  authOutageS: [90, 120],
  receiverWindowS: [30, 90],
  stateFsMiB: 256,
  maxWallS: 540,
  settings: SOAK_SETTINGS,
};

/**
 * About 10,000 rounds with 590 faults (issue 14's long variant): about 2.4 hours on 2 cores.
 * Rounds follow each other without the CI profile's 0.5 s pause: the 10,000 ok rounds between
 * faults are most of the wall time, and the pause adds nothing the faults exercise.
 */
export const LONG_PROFILE: SoakProfile = {
  name: 'long',
  counts: {
    rate_limit: 120,
    overloaded: 80,
    crash: 50,
    hang: 40,
    large_output: 60,
    dirty_tree: 80,
    auth_outage: 5,
    crash_loop: 5,
    sigstop_serve: 20,
    sigkill_serve: 30,
    sigkill_bridge: 30,
    sigkill_watchdog: 20,
    disk_full: 10,
    operator_pause: 10,
    config_broken: 5,
    webhook_500: 20,
    webhook_refuse: 10,
  },
  gap: [12, 24],
  warmupRounds: 20,
  tailRounds: 20,
  minRounds: 10_000,
  authOutageS: [90, 180],
  receiverWindowS: [30, 90],
  stateFsMiB: 512,
  maxWallS: 16 * 3600,
  settings: { ...SOAK_SETTINGS, restart_delay_s: 0 },
};

/** One main-track fault. */
export interface Episode {
  /** 0-based position. */
  index: number;
  kind: FaultKind;
  /** ok rounds to wait for before injecting it. */
  gapRounds: number;
  params: FaultParams;
}

/** A receiver window, started some seconds after a main-track episode begins. */
export interface ReceiverWindow {
  kind: FaultKind;
  /** The episode it overlaps. */
  episode: number;
  /** Seconds after that episode starts. */
  delay_s: number;
  duration_s: number;
}

/** The whole schedule. */
export interface Schedule {
  seed: number;
  profile: string;
  episodes: Episode[];
  windows: ReceiverWindow[];
}

const between = (r: () => number, [lo, hi]: [number, number]): number => lo + (hi - lo) * r();
const round1 = (x: number): number => Math.round(x * 10) / 10;

/** Draws the schedule of `profile` from `seed`. */
export function makeSchedule(seed: number, profile: SoakProfile): Schedule {
  const r = rng(seed);
  const main: FaultKind[] = [];
  const receiver: FaultKind[] = [];
  for (const [kind, n] of Object.entries(profile.counts) as Array<[FaultKind, number]>) {
    for (let i = 0; i < n; i++) (FAULTS[kind].track === 'main' ? main : receiver).push(kind);
  }
  // Fisher-Yates with the seeded generator.
  for (let i = main.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [main[i], main[j]] = [main[j] as FaultKind, main[i] as FaultKind];
  }
  const episodes = main.map((kind, index): Episode => {
    const gapRounds = Math.round(between(r, profile.gap));
    const params: FaultParams = {};
    switch (kind) {
      case 'rate_limit':
        params.reset_s = Math.round(between(r, [3, 8]));
        break;
      case 'auth_outage':
        params.duration_s = Math.round(between(r, profile.authOutageS));
        break;
      case 'disk_full':
        params.duration_s = 30;
        break;
      case 'operator_pause':
        params.duration_s = Math.round(between(r, [15, 30]));
        break;
      case 'config_broken':
        params.duration_s = Math.round(between(r, [15, 30]));
        break;
      case 'sigkill_serve':
        params.at_s = round1(between(r, [0.5, 3]));
        break;
      case 'sigstop_serve':
        params.at_s = r() < 0.5 ? 0 : round1(between(r, [0.5, 3]));
        break;
      default:
        break;
    }
    return { index, kind, gapRounds, params };
  });
  const windows = receiver
    .map((kind): ReceiverWindow => ({
      kind,
      episode: Math.floor(r() * episodes.length),
      delay_s: Math.round(between(r, [0, 20])),
      duration_s: Math.round(between(r, profile.receiverWindowS)),
    }))
    .sort((a, b) => a.episode - b.episode || a.delay_s - b.delay_s);
  return { seed, profile: profile.name, episodes, windows };
}
