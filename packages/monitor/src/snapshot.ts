/**
 * What the monitor knows about one host at one poll: the part of the `agent-runner peek
 * --json` document (schema_version 1, built by packages/runner/src/peek.ts) that detectors
 * read. The document's shape is core's (`@agent-runner/core/peek`); remote hosts send exactly
 * this JSON, and the local source builds the same shape from the ledger, the
 * markers and systeminformation. Times are ISO-8601 UTC strings, durations seconds, sizes
 * bytes, cost US dollars.
 */
import type { EventRecord } from '@agent-runner/core/events';

import { PEEK_SCHEMA_VERSION, type PeekRound } from '@agent-runner/core/peek';


/** The snapshot of one host (a subset of `PeekSnapshot`; unknown fields are ignored). */
export interface HostSnapshot {
  schema_version: number;
  project: string;
  generated_at: string;
  service: {
    state: 'running' | 'stopped' | 'unknown';
    pid: number | null;
    version: string | null;
    activity: string | null;
    heartbeat_age_s: number | null;
    stop_requested: boolean;
    agent_done: string | null;
  };
  current_round: (PeekRound & { elapsed_s: number }) | null;
  rounds: PeekRound[];
  counts_24h: Record<string, number>;
  today: { rounds: number; cost_usd: number };
  backoff: { class: string; until: string; delay_s: number } | null;
  rate_limit: { account: string; class: string; throttled_until: string; reset_at: string | null } | null;
  /** Stashes the runner made of rounds' leftovers (`round` parsed from `agent-runner round N`). */
  orphan_stashes: Array<{ sha: string; round?: number }>;
  system: {
    disk: { path: string; free_bytes: number; used_pct: number } | null;
    memory: { total_bytes: number; available_bytes: number } | null;
    agent_process_count: number;
  };
  defenses: Record<string, unknown>;
  recent_events: EventRecord[];
  /** Monitor addition (local source only): targets whose heal circuit breaker is open in the ledger. */
  heal_breakers_open?: string[];
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Checks that parsed `peek --json` output has the fields detectors rely on.
 * @returns a description of the first problem, or undefined when usable.
 */
export function snapshotProblem(v: unknown): string | undefined {
  if (!isObj(v)) return 'not a JSON object';
  if (v['schema_version'] !== PEEK_SCHEMA_VERSION) return `schema_version ${JSON.stringify(v['schema_version'])}, expected ${PEEK_SCHEMA_VERSION}`;
  if (!isObj(v['service'])) return 'no service object';
  if (!Array.isArray(v['rounds'])) return 'no rounds array';
  if (!isObj(v['system'])) return 'no system object';
  if (!isObj(v['today'])) return 'no today object';
  return undefined;
}
