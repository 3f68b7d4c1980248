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
  const m = await sb.show(ROLES.map((r) => p.units[r]), ['ActiveState', 'SubState', 'Result', 'MainPID', 'ExecMainStatus', 'NRestarts']);
  const out = {} as Record<UnitRole, UnitState>;
  for (const r of ROLES) {
    const s = m.get(p.units[r]) ?? {};
    out[r] = { active: s['ActiveState'] ?? '?', sub: s['SubState'] ?? '?', result: s['Result'] ?? '?', mainPid: Number(s['MainPID'] ?? 0), status: s['ExecMainStatus'] ?? '?', restarts: Number(s['NRestarts'] ?? 0) };
  }
  return out;
}

/** True while systemd runs the unit or is about to (starting, or waiting out RestartSec=). */
export function upOrComing(s: UnitState): boolean {
  return s.active === 'active' || s.active === 'activating' || s.active === 'reloading' || s.sub === 'auto-restart';
}

/** VmRSS of pid `pid` inside the sandbox, bytes; undefined when it is gone. */
export function rssBytes(sb: Sandbox, pid: number): number | undefined {
  if (pid <= 0) return undefined;
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(sb.path(`/proc/${pid}/status`), 'utf8'));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** The round in progress: the latest `round_start` not yet ended or interrupted. */
export function runningRound(feed: EventFeed): SoakEvent | undefined {
  const start = feed.last('round_start');
  if (start === undefined) return undefined;
  const closed = feed.events.some((e) => e.round === start.round && (e.kind === 'round_end' || e.kind === 'round_interrupted') && e.atMs >= start.atMs);
  return closed ? undefined : start;
}

/** `round_end` events classified ok at or after `sinceMs`. */
export function okRounds(events: readonly SoakEvent[], sinceMs: number, untilMs = Infinity): SoakEvent[] {
  return events.filter((e) => e.kind === 'round_end' && e['classification'] === 'ok' && e.atMs >= sinceMs && e.atMs <= untilMs);
}
