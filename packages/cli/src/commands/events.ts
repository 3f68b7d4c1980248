import { configPaths } from '@agent-runner/core/config';
import { AgentRunnerError } from '@agent-runner/core/errors';
import { endCursor, eventsSince, followEvents, lastEvents, EVENT_KINDS, type EventRecord } from '@agent-runner/core/events';
import type { CliContext } from '../context.js';
import { loadProjectConfig } from '../load.js';
import { out } from '../output.js';
import { parseSince } from '../time.js';
import type { EventsArgs } from '../verbs/events.js';

const ENVELOPE = new Set(['v', 'ts', 'kind', 'unit', 'project', 'round']);

/** One event as a human line: time, unit, kind, round, then the payload as key=value. */
export function formatEvent(e: EventRecord): string {
  const payload = Object.entries(e)
    .filter(([k]) => !ENVELOPE.has(k))
    .map(([k, v]) => `${k}=${typeof v === 'string' ? (/[\s"]/.test(v) ? JSON.stringify(v) : v) : JSON.stringify(v)}`);
  return [e.ts, e.unit.padEnd(8), e.kind, e.round === undefined ? '' : `round=${e.round}`, ...payload].filter(Boolean).join('  ');
}

function parseKinds(text: string | undefined): string[] | undefined {
  if (!text) return undefined;
  const kinds = text
    .split(',')
    .map((k) => k.trim())
    .filter(Boolean);
  const unknown = kinds.filter((k) => !(EVENT_KINDS as readonly string[]).includes(k));
  if (unknown.length) {
    throw new AgentRunnerError('ERR_AR_USAGE', `unknown event kind(s): ${unknown.join(', ')}`, {
      expected: 'kinds from docs/events.md',
      found: unknown.join(', '),
      hint: `Known kinds: ${EVENT_KINDS.join(', ')}`,
    });
  }
  return kinds;
}

/**
 * `agent-runner events [--kind K,...] [--since 1h|ISO] [--round N] [--limit N] [--follow] [--json]`:
 * prints matching events oldest first (JSON Lines with --json, for jq), then with --follow
 * every new one as it is appended, across daily rotation, until interrupted. Reads only the
 * files and byte ranges it needs: the cost follows the answer, not the history.
 */
export async function events(ctx: CliContext, args: EventsArgs): Promise<number> {
  // --since, --round and --limit were checked by the parser (verbs/events.ts, args.ts).
  const kinds = parseKinds(args.kind);
  const dir = configPaths(loadProjectConfig(ctx, args, { skipFileChecks: true })).eventsDir;
  const print = (e: EventRecord): void => out(ctx, args.json ? JSON.stringify(e) : formatEvent(e));
  const roundOk = (e: EventRecord): boolean => args.round === undefined || e.round === args.round;

  let cursor = args.follow ? endCursor(dir) : null;
  if (args.since !== undefined) {
    const sinceMs = parseSince(args.since, Date.now());
    const r = eventsSince(dir, { sinceMs, ...(kinds ? { kinds } : {}), ...(args.limit ? { limit: args.limit } : {}) });
    r.events.filter(roundOk).forEach(print);
    if (args.follow && r.done) cursor = r.cursor;
  } else if (!args.follow || args.limit !== undefined) {
    const r = lastEvents(dir, {
      n: args.limit ?? 50,
      ...(kinds ? { kinds } : {}),
      ...(args.round !== undefined ? { round: args.round } : {}),
    });
    r.events.forEach(print);
  }
  if (!args.follow) return 0;
  for await (const { event } of followEvents(dir, { from: cursor ?? 'now', ...(kinds ? { kinds } : {}), signal: ctx.signal })) {
    if (roundOk(event)) print(event);
  }
  return 0;
}
