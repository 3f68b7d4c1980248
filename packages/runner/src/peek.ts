import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { configPaths, type AgentRunnerConfig } from '@agent-runner/core/config';
import { tightestDisk } from '@agent-runner/core/disk';
import { lastEvents } from '@agent-runner/core/events/reader';
import { openLedger } from '@agent-runner/core/ledger';
import {
  iso,
  PEEK_SCHEMA_VERSION,
  peekDefenses,
  peekLedger,
  peekService,
  type PeekHook,
  type PeekLedgerPart,
  type PeekSnapshot,
} from '@agent-runner/core/peek';
import { orphanStashes } from './vcs.js';

function memory(): PeekSnapshot['system']['memory'] {
  try {
    const text = readFileSync('/proc/meminfo', 'utf8');
    const kb = (k: string): number => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(text)?.[1] ?? 0) * 1024;
    return { total_bytes: kb('MemTotal'), available_bytes: kb('MemAvailable') };
  } catch {
    return null; // no readable /proc/meminfo (not Linux, procfs hidden): the snapshot says unknown
  }
}

/** The fuller of the state and log file systems (core/disk: the figure doctor and the monitor use too). */
function disk(paths: { stateDir: string; logDir: string }): PeekSnapshot['system']['disk'] {
  const u = tightestDisk([paths.stateDir, paths.logDir]);
  return u ? { path: u.path, free_bytes: u.free_bytes, used_pct: u.used_pct } : null;
}

/**
 * Live processes that look like this project's agent: the executable's base name and the
 * first arguments as configured (so `node demo-agent.mjs` does not count every node on the
 * host). Orphans of killed rounds show up here.
 */
function agentProcessCount(command: string[], procRoot = '/proc'): number {
  const [exe = '', ...args] = command;
  const name = basename(exe);
  const want = args.slice(0, 2);
  let n = 0;
  for (const entry of readdirSync(procRoot)) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const [argv0 = '', ...rest] = readFileSync(`${procRoot}/${entry}/cmdline`, 'utf8').split('\0');
      if (basename(argv0) === name && want.every((a, i) => rest[i] === a)) n += 1;
    } catch {
      /* gone meanwhile, or not ours to read */
    }
  }
  return n;
}

/** Daily event files peek reads for the hooks' last runs: a hook not run for longer reads as never run. */
export const HOOK_DAYS = 7;

/**
 * The configured hooks with the outcome of each one's newest run: one backward read of the
 * newest `hook_finished` / `hook_failed` events (at most 50 per hook, in the newest
 * {@link HOOK_DAYS} daily files, so a hook that never runs costs a week of events, not the
 * stream), nothing when no hook is configured.
 */
export function peekHooks(cfg: AgentRunnerConfig, eventsDir: string): PeekHook[] {
  if (cfg.hooks.length === 0) return [];
  const newest = new Map<string, Record<string, unknown> & { ts: string; kind: string }>();
  const wanted = new Set(cfg.hooks.map((h) => `${h.name}\0${h.on}`));
  const evs = lastEvents(eventsDir, {
    n: Math.min(50 * cfg.hooks.length, 1000),
    kinds: ['hook_finished', 'hook_failed'],
    order: 'newest-first',
    maxFiles: HOOK_DAYS,
  }).events;
  for (const e of evs) {
    const key = `${String(e['hook'])}\0${String(e['event'])}`;
    if (wanted.has(key) && !newest.has(key)) newest.set(key, e);
    if (newest.size === wanted.size) break;
  }
  return cfg.hooks.map((h) => {
    const e = newest.get(`${h.name}\0${h.on}`);
    const failed = e?.kind === 'hook_failed';
    return {
      name: h.name,
      on: h.on,
      enabled: h.enabled,
      last: e
        ? {
            at: e.ts,
            outcome: failed ? 'failed' : 'ok',
            ...(failed ? { reason: String(e['reason']) } : {}),
            duration_s: Number(e['duration_s'] ?? 0),
            ...(failed ? { message: String(e['message'] ?? '') } : {}),
          }
        : null,
    };
  });
}

/**
 * Builds the `peek` snapshot from the ledger (indexed queries), the marker files and the
 * newest event lines only — its cost does not grow with history. Never writes: a missing
 * ledger or state dir reads as "never ran".
 */
export async function buildPeek(cfg: AgentRunnerConfig, opts: { nowMs: number; rounds?: number; events?: number }): Promise<PeekSnapshot> {
  const paths = configPaths(cfg);
  const now = opts.nowMs;
  // When git has to be asked (see orphanStashes), it runs while the ledger and events are read.
  const stashes: Promise<PeekSnapshot['orphan_stashes']> = orphanStashes(cfg.runtime.work_dir).then(
    (list) => list.map((s) => ({ sha: s.sha, round: s.round, message: s.message, created_at: iso(s.createdAtMs) as string })),
    () => [], // not a git work tree (any more): nothing to salvage
  );
  const { service, running } = peekService(paths, now);
  let part: PeekLedgerPart = {
    current_round: null,
    rounds: [],
    counts_24h: {},
    today: { rounds: 0, input_tokens: 0, output_tokens: 0, cache_read_tokens: 0, cache_creation_tokens: 0, cost_usd: 0 },
    rate_limit: null,
    alarms: [],
  };
  let ledgerInfo: PeekSnapshot['ledger'] = null;
  if (existsSync(paths.ledgerPath)) {
    const ledger = openLedger(paths.ledgerPath, { readonly: true });
    ledgerInfo = { path: paths.ledgerPath, schema_version: ledger.schemaVersion };
    try {
      part = peekLedger(ledger, cfg, now, { running, rounds: opts.rounds });
    } finally {
      ledger.close();
    }
  }

  const recent = lastEvents(paths.eventsDir, { n: opts.events ?? 20 }).events;
  const lastBackoff = lastEvents(paths.eventsDir, { n: 1, kinds: ['backoff_started', 'round_start'] }).events[0];
  const backoff =
    running && lastBackoff?.kind === 'backoff_started' && Date.parse(String(lastBackoff['until'])) > now
      ? { class: String(lastBackoff['class']), until: String(lastBackoff['until']), delay_s: Number(lastBackoff['delay_s']) }
      : null;

  return {
    schema_version: PEEK_SCHEMA_VERSION,
    project: cfg.project,
    generated_at: iso(now) as string,
    service,
    current_round: part.current_round,
    rounds: part.rounds,
    counts_24h: part.counts_24h,
    today: part.today,
    backoff,
    rate_limit: part.rate_limit,
    orphan_stashes: await stashes,
    system: { disk: disk(paths), memory: memory(), agent_process_count: agentProcessCount(cfg.agent.command) },
    defenses: peekDefenses(cfg, paths.stopFile),
    ledger: ledgerInfo,
    alarms: part.alarms,
    hooks: peekHooks(cfg, paths.eventsDir),
    recent_events: recent,
  };
}
