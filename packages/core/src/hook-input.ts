/**
 * The stdin document of a hook ({@link HookInput}) built from what is on disk: the ledger's
 * rounds, the round events (summary, stash and commit SHAs: the `rounds` table does not keep
 * them) and the hook context the runner persists. For the callers that run a hook outside a
 * round: the monitor's `detector` hooks on every poll and `agent-runner hooks test`. The
 * runner builds its own documents from the round it just ran.
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import type { AgentRunnerConfig, HookConfig } from './config/types.js';
import { isErrno } from './errors.js';
import { eventsSince } from './events/reader.js';
import type { HookInput, HookRoundOutcome } from './hooks.js';
import { HOOK_INPUT_VERSION } from './hooks.js';
import type { RoundRecord, RoundsAccess } from './ledger/rounds.js';
import type { ProjectPaths } from './paths.js';

/** Largest context file read, bytes: fields for a prompt, not a data store. */
const MAX_CONTEXT_BYTES = 1024 * 1024;

/** Rounds looked at for the last one that ended (at most one is running; the rest are slack). */
const LOOKBACK = 20;

/** Events that carry what the `rounds` table does not: the summary, the stash and commit SHAs. */
const OUTCOME_KINDS = ['round_end', 'vcs_stashed', 'vcs_committed'] as const;

/**
 * The context fields hooks answered so far, as the runner persisted them in `file`
 * (`ProjectPaths.hookContextFile`, `<state_dir>/hooks-context.json`: one JSON object of fields).
 * A missing file reads as `{}`; so does an unreadable, oversized or corrupt one, or one that is
 * not an object, told to `warn` when given (a hook then sees no context, never a crash).
 */
export function readHooksContext(file: string, warn?: (line: string) => void): Record<string, unknown> {
  const empty = (why: string): Record<string, unknown> => {
    warn?.(`hook context ${file} ${why}; starting with an empty context`);
    return {};
  };
  let buf: Buffer;
  try {
    buf = readFileSync(file);
  } catch (e) {
    return isErrno(e, 'ENOENT') ? {} : empty(`cannot be read (${(e as Error).message})`);
  }
  if (buf.length > MAX_CONTEXT_BYTES) return empty(`is larger than ${MAX_CONTEXT_BYTES} bytes`);
  let doc: unknown;
  try {
    doc = JSON.parse(buf.toString('utf8'));
  } catch (e) {
    return empty(`is not JSON (${(e as Error).message.slice(0, 120)})`);
  }
  return typeof doc === 'object' && doc !== null && !Array.isArray(doc) ? (doc as Record<string, unknown>) : empty('is not a JSON object');
}

/** What the round events add to a round's ledger row. */
interface RoundFacts {
  summary?: string;
  stash?: string;
  commit?: string;
  /** A `round_end` was found: the facts are complete. */
  ended: boolean;
}

/**
 * The round's `round_end` summary and its `vcs_stashed` / `vcs_committed` SHAs, read forward
 * from the round's start (O(the events since then), not the stream). Best effort: a pruned or
 * unreadable stream gives no facts.
 */
function roundFacts(eventsDir: string | undefined, rec: RoundRecord): RoundFacts {
  const facts: RoundFacts = { ended: false };
  if (eventsDir === undefined) return facts;
  try {
    const { events } = eventsSince(eventsDir, { sinceMs: rec.startedAtMs, kinds: OUTCOME_KINDS, limit: 10_000 });
    for (const e of events) {
      if (e.round !== rec.round) continue;
      if (e.kind === 'round_end') {
        facts.ended = true;
        if (typeof e['summary'] === 'string' && e['summary'].trim()) facts.summary = e['summary'];
      } else if (typeof e['sha'] === 'string') {
        if (e.kind === 'vcs_stashed') facts.stash = e['sha'];
        else facts.commit = e['sha'];
      }
    }
  } catch {
    // An unreadable event file: the ledger row alone.
  }
  return facts;
}

/** The ledger's token columns as the `usage` object `round_end` carries; null when none is known. */
function usageOf(rec: RoundRecord): Record<string, number> | null {
  const usage: Record<string, number> = {};
  if (rec.inputTokens !== null) usage['input_tokens'] = rec.inputTokens;
  if (rec.outputTokens !== null) usage['output_tokens'] = rec.outputTokens;
  if (rec.cacheReadTokens !== null) usage['cache_read_tokens'] = rec.cacheReadTokens;
  if (rec.cacheCreationTokens !== null) usage['cache_creation_tokens'] = rec.cacheCreationTokens;
  return Object.keys(usage).length ? usage : null;
}

function durationS(rec: RoundRecord): number {
  const ms = rec.durationMs ?? (rec.endedAtMs !== null ? Math.max(0, rec.endedAtMs - rec.startedAtMs) : 0);
  return Math.round(ms) / 1000;
}

/** The one line a round without a `round_end` summary gets: class, how it ended, how long. */
function fallbackSummary(rec: RoundRecord, cls: string): string {
  if (rec.status === 'interrupted') return `interrupted${rec.interruptReason ? `: ${rec.interruptReason}` : ''}`;
  const how = rec.signal !== null ? `killed by ${rec.signal}` : rec.exitCode !== null ? `exit ${rec.exitCode}` : 'exit unknown';
  return `${cls} (${how}) after ${durationS(rec)} s`;
}

/**
 * A round that ended (finished or interrupted), as a hook reads it: the ledger row (class,
 * exit code, signal, duration, usage, cost) plus the summary and the stash / commit SHA of its
 * events in `eventsDir` (a summary made from the row when its `round_end` is gone).
 */
export function roundOutcome(rec: RoundRecord, eventsDir?: string): HookRoundOutcome {
  return outcomeOf(rec, roundFacts(eventsDir, rec));
}

function outcomeOf(rec: RoundRecord, facts: RoundFacts): HookRoundOutcome {
  const cls = rec.classification ?? (rec.status === 'interrupted' ? 'interrupted' : 'unknown');
  return {
    round: rec.round,
    class: cls,
    exit_code: rec.exitCode,
    signal: rec.signal,
    duration_s: durationS(rec),
    summary: (facts.summary ?? fallbackSummary(rec, cls)).replace(/\s+/g, ' ').trim(),
    usage: usageOf(rec),
    cost_usd: rec.costUsd,
    stash_sha: facts.stash ?? null,
    commit_sha: facts.commit ?? null,
  };
}

/**
 * Reads {@link roundOutcome} of the newest ended round, remembering it per round: a round that
 * ended does not change, so a caller asking every poll (the monitor) scans its events once —
 * once its `round_end` was seen, or a minute after it ended when the event never came.
 */
export class RoundOutcomeReader {
  private cached: { round: number; outcome: HookRoundOutcome } | undefined;

  constructor(
    private readonly eventsDir: string | undefined,
    private readonly now: () => number = Date.now,
  ) {}

  /** The outcome of `rec` (a round that ended). */
  outcome(rec: RoundRecord): HookRoundOutcome {
    if (this.cached?.round === rec.round) return this.cached.outcome;
    const facts = roundFacts(this.eventsDir, rec);
    const outcome = outcomeOf(rec, facts);
    if (facts.ended || (rec.endedAtMs !== null && this.now() - rec.endedAtMs > 60_000)) this.cached = { round: rec.round, outcome };
    return outcome;
  }
}

/** What {@link buildHookInput} reads from. */
export interface HookInputSources {
  cfg: AgentRunnerConfig;
  /** The project's context file and events directory (`configPaths(cfg)`). */
  paths: Pick<ProjectPaths, 'hookContextFile' | 'eventsDir'>;
  /** The ledger's rounds; undefined when there is no ledger yet (no rounds). */
  rounds: Pick<RoundsAccess, 'lastRounds'> | undefined;
  /** Remembers outcomes across calls (the monitor); default: read afresh. */
  outcomes?: RoundOutcomeReader;
  /** Default `os.hostname()`. */
  host?: string;
  /** `pre_round`: the prompt. */
  prompt?: string;
  /** `dirty_tree`: the dirty paths. */
  dirtyFiles?: string[];
}

/**
 * The whole stdin document for `hook`, as of now: `previous_round` is the newest round that
 * ended, `round` what the event's docs say — the next round for `serve_start` and
 * `pre_round` (the newest + 1), the one that ended for `post_round` and `dirty_tree`, the
 * newest (running or not) for `detector` — `phase` that round's, and `context` the persisted
 * hook context ({@link readHooksContext}). `prompt` and `dirty_files` are set for their events
 * only, from `src`.
 */
export function buildHookInput(hook: HookConfig, src: HookInputSources): HookInput {
  const { cfg } = src;
  const recent = src.rounds?.lastRounds(LOOKBACK) ?? [];
  const newest = recent[0];
  const ended = recent.find((r) => r.status !== 'running');
  const reader = src.outcomes ?? new RoundOutcomeReader(src.paths.eventsDir);
  const previous = ended ? reader.outcome(ended) : null;
  let round: number | null;
  let phase: string | null;
  switch (hook.on) {
    case 'serve_start':
    case 'pre_round': {
      round = (newest?.round ?? 0) + 1;
      phase = cfg.phases.length ? (cfg.phases[(round - 1) % cfg.phases.length]?.name ?? null) : null;
      break;
    }
    case 'post_round':
    case 'dirty_tree':
      round = ended?.round ?? null;
      phase = ended?.phase ?? null;
      break;
    default:
      round = newest?.round ?? null;
      phase = newest?.phase ?? null;
  }
  return {
    version: HOOK_INPUT_VERSION,
    event: hook.on,
    hook: hook.name,
    project: cfg.project,
    host: src.host ?? hostname(),
    work_dir: cfg.runtime.work_dir,
    config_file: cfg.source,
    round,
    phase,
    previous_round: previous,
    context: readHooksContext(src.paths.hookContextFile),
    ...(hook.on === 'pre_round' ? { prompt: src.prompt ?? '' } : {}),
    ...(hook.on === 'dirty_tree' ? { dirty_files: src.dirtyFiles ?? [] } : {}),
  };
}
