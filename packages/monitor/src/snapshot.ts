/**
 * What the monitor knows about one host at one poll: the part of the `agent-runner peek
 * --json` document (schema_version 1, built by packages/runner/src/peek.ts) that detectors
 * read. The document's shape is core's (`@agent-runner/core/peek`); remote hosts send exactly
 * this JSON, and the local source builds the same shape from the ledger, the markers, statfs
 * (core/disk) and systeminformation. Times are ISO-8601 UTC strings, durations seconds, sizes
 * bytes, cost US dollars.
 */
import { PEEK_SCHEMA_VERSION, type PeekAlarm, type PeekSnapshot } from '@agent-runner/core/peek';

/**
 * The snapshot of one host: the `peek --json` document (core's {@link PeekSnapshot}) minus
 * what detectors do not read, with fields the local source cannot fill made optional. The
 * fields peek gained within schema version 1 (`service.pause`, `alarms`) are optional too:
 * a host with an older agent-runner does not send them.
 */
export type HostSnapshot = Omit<PeekSnapshot, 'service' | 'today' | 'orphan_stashes' | 'ledger' | 'alarms'> & {
  service: Omit<PeekSnapshot['service'], 'started_at' | 'pause'> & { pause?: PeekSnapshot['service']['pause'] };
  today: Pick<PeekSnapshot['today'], 'rounds' | 'cost_usd'>;
  /** Stashes the runner made of rounds' leftovers (`round` parsed from `agent-runner round N`). */
  orphan_stashes: Array<{ sha: string; round?: number }>;
  /** The host's active alarms (absent from an older host's peek). */
  alarms?: PeekAlarm[];
  /** Monitor addition (local source only): targets whose heal circuit breaker is open in the ledger. */
  heal_breakers_open?: string[];
};

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Checks that parsed `peek --json` output has the fields detectors rely on.
 * @returns a description of the first problem, or undefined when usable.
 */
export function snapshotProblem(v: unknown): string | undefined {
  if (!isObj(v)) return 'not a JSON object';
  if (v['schema_version'] !== PEEK_SCHEMA_VERSION)
    return `schema_version ${JSON.stringify(v['schema_version'])}, expected ${PEEK_SCHEMA_VERSION}`;
  if (!isObj(v['service'])) return 'no service object';
  if (!Array.isArray(v['rounds'])) return 'no rounds array';
  if (!isObj(v['system'])) return 'no system object';
  if (!isObj(v['today'])) return 'no today object';
  return undefined;
}
