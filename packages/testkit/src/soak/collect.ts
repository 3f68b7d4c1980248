/**
 * What the soak reads once the units are stopped: the ledger (integrity, rounds, outbox), the
 * event files as they are on disk (torn lines), the work tree's history and stashes, and the
 * units' journals.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { inspectLedger, openLedger, type OutboxRecord, type RoundRecord } from '@agent-runner/core/ledger';
import type { JournalEntry } from '../fake-claude.js';
import type { SoakEvent } from './feed.js';
import type { Sandbox } from './sandbox.js';
import type { SoakProject } from './setup.js';

/** A line of an event file that is not a whole JSON object. */
export interface TornLine {
  file: string;
  line: number;
  text: string;
}

/** The after-the-fact record of one project. */
export interface ProjectFacts {
  integrity: string[];
  rounds: Array<Pick<RoundRecord, 'round' | 'status' | 'classification' | 'startedAtMs' | 'interruptReason'>>;
  outbox: Array<
    Pick<
      OutboxRecord,
      'idempotencyKey' | 'kind' | 'severity' | 'title' | 'status' | 'createdAtMs' | 'transport' | 'attempts' | 'lastError' | 'payload'
    >
  >;
  tornLines: TornLine[];
  /** Lines read per event file. */
  eventLines: number;
}

/** The work tree of the faulted project. */
export interface GitFacts {
  head: string;
  /** SHAs the fake committed that are not in HEAD's history. */
  lostCommits: string[];
  /** Files the fake wrote and did not commit, and the stash SHAs that hold them (empty: in none). */
  uncommitted: Array<{ round: number; file: string; stashes: string[] }>;
  /** Stash SHAs from `vcs_stashed` events that git does not know. */
  unknownStashes: string[];
  /** What `git status --porcelain` says at the end. */
  status: string;
}

/** What {@link ledgerFacts} reads of a ledger. */
export type LedgerFacts = Pick<ProjectFacts, 'integrity' | 'rounds' | 'outbox'>;

/**
 * Reads a ledger read-only: `PRAGMA integrity_check`, every round, every outbox row. Runs
 * inside the sandbox (see ledger-dump-bin.ts): SQLite resolves symbolic links in a database
 * path, and `/proc/<pid>/root` resolves to the host's `/`.
 */
export function ledgerFacts(file: string): LedgerFacts {
  const ins = inspectLedger(file);
  const integrity = ins.ok ? ['ok'] : ins.problems;
  let rounds: ProjectFacts['rounds'] = [];
  const outbox: ProjectFacts['outbox'] = [];
  try {
    const l = openLedger(file, { readonly: true });
    try {
      rounds = l.runner
        .lastRounds(1_000_000)
        .reverse()
        .map((r) => ({
          round: r.round,
          status: r.status,
          classification: r.classification,
          startedAtMs: r.startedAtMs,
          interruptReason: r.interruptReason,
        }));
      for (let id = 1, misses = 0; misses < 200; id++) {
        const o = l.outbox.getOutbox(id);
        if (!o) {
          misses++;
          continue;
        }
        misses = 0;
        outbox.push({
          idempotencyKey: o.idempotencyKey,
          kind: o.kind,
          severity: o.severity,
          title: o.title,
          status: o.status,
          createdAtMs: o.createdAtMs,
          transport: o.transport,
          attempts: o.attempts,
          lastError: o.lastError,
          payload: o.payload,
        });
      }
    } finally {
      l.close();
    }
  } catch (e) {
    integrity.push(`cannot read the ledger: ${(e as Error).message}`);
  }
  return { integrity, rounds, outbox };
}

/** {@link ledgerFacts} of a project's ledger, read inside the sandbox with `node dumpBin`. */
export async function dumpLedger(sb: Sandbox, p: SoakProject, node: string, dumpBin: string): Promise<LedgerFacts> {
  const r = await sb.sh(`${node} ${dumpBin} ${p.stateDir}/ledger.sqlite3`, 120_000);
  try {
    return JSON.parse(r.stdout) as LedgerFacts;
  } catch {
    // the dump printed no JSON (it failed): its stderr is the finding
    return { integrity: [`ledger dump failed (exit ${r.code}): ${r.stderr.trim().slice(-300)}`], rounds: [], outbox: [] };
  }
}

/** Reads a project's ledger (inside the sandbox) and its event files (units stopped). */
export async function projectFacts(sb: Sandbox, p: SoakProject, node: string, dumpBin: string): Promise<ProjectFacts> {
  const ledger = await dumpLedger(sb, p, node, dumpBin);
  const dir = sb.path(`${p.logDir}/events`);
  const tornLines: TornLine[] = [];
  let eventLines = 0;
  for (const f of readdirSync(dir)
    .filter((n) => n.endsWith('.jsonl'))
    .sort()) {
    const text = readFileSync(join(dir, f), 'utf8');
    const lines = text.split('\n');
    const last = lines.pop();
    if (last) tornLines.push({ file: f, line: lines.length + 1, text: `${last.slice(0, 200)} (no newline at the end of the file)` });
    lines.forEach((l, i) => {
      eventLines++;
      try {
        const o = JSON.parse(l) as unknown;
        if (typeof o !== 'object' || o === null || Array.isArray(o)) throw new Error('not an object');
      } catch {
        // not JSON, or not an object: a torn line
        tornLines.push({ file: f, line: i + 1, text: l.slice(0, 200) });
      }
    });
  }
  return { ...ledger, tornLines, eventLines };
}

/** Checks every commit and every uncommitted file of the fake against the repository. */
export async function gitFacts(sb: Sandbox, p: SoakProject, journal: JournalEntry[], events: SoakEvent[]): Promise<GitFacts> {
  const stashes = [...new Set(events.filter((e) => e.kind === 'vcs_stashed').map((e) => String(e['sha'])))];
  const script = [
    `cd ${p.dir}`,
    'echo "== head"; git rev-parse HEAD',
    'echo "== history"; git rev-list HEAD',
    'echo "== status"; git status --porcelain',
    ...stashes.map(
      (s) =>
        `echo "== stash ${s}"; git cat-file -e ${s}^{commit} 2>/dev/null && { git ls-tree -r --name-only ${s}; git ls-tree -r --name-only ${s}^3 2>/dev/null; } || echo "!missing"`,
    ),
  ].join('\n');
  const r = await sb.as(p.name, script, 120_000);
  const sections = new Map<string, string[]>();
  let cur = '';
  for (const line of r.stdout.split('\n')) {
    if (line.startsWith('== ')) {
      cur = line.slice(3);
      sections.set(cur, []);
    } else if (line) sections.get(cur)?.push(line);
  }
  const history = new Set(sections.get('history') ?? []);
  const lostCommits = journal.filter((j) => j.phase === 'end' && j.committed && j.sha && !history.has(j.sha)).map((j) => j.sha as string);
  const held = new Map<string, string[]>();
  const unknownStashes: string[] = [];
  for (const s of stashes) {
    const files = sections.get(`stash ${s}`) ?? ['!missing'];
    if (files.includes('!missing')) unknownStashes.push(s);
    for (const f of files) held.set(f, [...(held.get(f) ?? []), s]);
  }
  const ended = new Set(journal.filter((j) => j.phase === 'end').map((j) => j.round));
  const uncommitted = [
    ...journal.filter((j) => j.phase === 'end' && !j.committed && j.file).map((j) => ({ round: j.round, file: j.file as string })),
    // A slow round writes its file first; killed before its commit, it leaves the file behind.
    ...journal
      .filter((j) => j.phase === 'start' && j.scenario === 'slow' && !ended.has(j.round))
      .map((j) => ({ round: j.round, file: `soak/r${j.round}.txt` })),
  ].map((u) => ({ ...u, stashes: held.get(u.file) ?? [] }));
  return {
    head: sections.get('head')?.[0] ?? '',
    lostCommits,
    uncommitted,
    unknownStashes,
    status: (sections.get('status') ?? []).join('\n'),
  };
}

/** The journal of every unit of the project (the last `lines` lines each). */
export async function unitJournals(sb: Sandbox, p: SoakProject, lines = 200): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const u of [p.units.serve, p.units.bridge, p.units.watchdog, p.units.monitor]) {
    out[u] = (await sb.sh(`journalctl -u ${u} --no-pager -o short-precise -n ${lines}`, 60_000)).stdout;
  }
  return out;
}
