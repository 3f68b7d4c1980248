/**
 * What the soak reads of a running project: its units as systemd sees them, the resident
 * memory of their main processes, and the state of its rounds from the event stream.
 */
import { readFileSync } from 'node:fs';
import type { EventFeed, SoakEvent } from './feed.js';
import type { Sandbox } from './sandbox.js';
import type { SoakProject } from './setup.js';

/** The four service units of a project, by role. */
export type UnitRole = 'serve' | 'bridge' | 'watchdog' | 'monitor';
export const ROLES: readonly UnitRole[] = ['serve', 'bridge', 'watchdog', 'monitor'];

/** A unit as systemd sees it. */
export interface UnitState {
  active: string;
  sub: string;
  result: string;
  mainPid: number;
  status: string;
  restarts: number;
}

/** States of the project's units, by role. */
export async function unitStates(sb: Sandbox, p: SoakProject): Promise<Record<UnitRole, UnitState>> {
  const m = await sb.show(
    ROLES.map((r) => p.units[r]),
    ['ActiveState', 'SubState', 'Result', 'MainPID', 'ExecMainStatus', 'NRestarts'],
  );
  const out = {} as Record<UnitRole, UnitState>;
  for (const r of ROLES) {
    const s = m.get(p.units[r]) ?? {};
    out[r] = {
      active: s['ActiveState'] ?? '?',
      sub: s['SubState'] ?? '?',
      result: s['Result'] ?? '?',
      mainPid: Number(s['MainPID'] ?? 0),
      status: s['ExecMainStatus'] ?? '?',
      restarts: Number(s['NRestarts'] ?? 0),
    };
  }
  return out;
}

/** True while systemd runs the unit or is about to (starting, or waiting out RestartSec=). */
export function upOrComing(s: UnitState): boolean {
  return s.active === 'active' || s.active === 'activating' || s.active === 'reloading' || s.sub === 'auto-restart';
}

/**
 * VmRSS of pid `pid` inside the sandbox and the part of it that is the process's own (RssAnon:
 * heaps, malloc arenas, stacks — not the pages of node's binary and libraries it maps), bytes
 * (proc(5) /proc/PID/status); undefined when it is gone.
 */
export function rssBytes(sb: Sandbox, pid: number): { rss: number; anon: number } | undefined {
  if (pid <= 0) return undefined;
  let status: string;
  try {
    status = readFileSync(sb.path(`/proc/${pid}/status`), 'utf8');
  } catch {
    return undefined; // gone (ENOENT, ESRCH): nothing to sample
  }
  const kib = (key: string): number | undefined => {
    const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status);
    return m ? Number(m[1]) * 1024 : undefined;
  };
  const rss = kib('VmRSS');
  return rss === undefined ? undefined : { rss, anon: kib('RssAnon') ?? rss };
}

/** The round in progress: the latest `round_start` not yet ended or interrupted. */
export function runningRound(feed: EventFeed): SoakEvent | undefined {
  const start = feed.last('round_start');
  if (start === undefined) return undefined;
  const closed = feed.events.some(
    (e) => e.round === start.round && (e.kind === 'round_end' || e.kind === 'round_interrupted') && e.atMs >= start.atMs,
  );
  return closed ? undefined : start;
}

/** `round_end` events classified ok at or after `sinceMs`. */
export function okRounds(events: readonly SoakEvent[], sinceMs: number, untilMs = Infinity): SoakEvent[] {
  return events.filter((e) => e.kind === 'round_end' && e['classification'] === 'ok' && e.atMs >= sinceMs && e.atMs <= untilMs);
}

/** Events that are not round traffic. */
const ROUTINE = new Set([
  'round_start',
  'round_end',
  'vcs_committed',
  'vcs_stashed',
  'vcs_dirty_ignored',
  'round_grace_extended',
  'heal_verdict_changed',
  'heal_verified',
]);

/**
 * What the product did between `fromMs` and `toMs`, in a few words: each non-routine event
 * kind with its unit and the detail that tells instances apart, counted.
 */
export function reactions(events: readonly SoakEvent[], fromMs: number, toMs: number): string {
  const counts = new Map<string, number>();
  for (const e of events) {
    if (e.atMs < fromMs || e.atMs > toMs || ROUTINE.has(e.kind)) continue;
    const detail = e['reason'] ?? e['action'] ?? e['check'] ?? e['class'] ?? e['detector'] ?? '';
    const tier = e['tier'] !== undefined ? ` T${String(e['tier'])}` : '';
    const key = `${e.unit}:${e.kind}${tier}${detail ? `(${String(detail).slice(0, 40)})` : ''}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return [...counts].map(([k, n]) => (n > 1 ? `${k}x${n}` : k)).join(', ');
}

/** `10s`, `1min 30s`, `100ms` (systemd time spans) in seconds. */
export function parseSystemdSeconds(span: string): number {
  let s = 0;
  for (const m of span.matchAll(/(\d+(?:\.\d+)?)\s*(ms|min|s|h)?/g)) {
    const n = Number(m[1]);
    s += m[2] === 'ms' ? n / 1000 : m[2] === 'min' ? n * 60 : m[2] === 'h' ? n * 3600 : n;
  }
  return s;
}
