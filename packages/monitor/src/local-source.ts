import { execFileSync } from 'node:child_process';
import { hostname } from 'node:os';
import type { AgentRunnerConfig } from '@agent-runner/core/config';
import { configPaths } from '@agent-runner/core/config';
import { tightestDisk } from '@agent-runner/core/disk';
import { endCursor, eventsSince, lastEvents, type EventCursor, type EventRecord } from '@agent-runner/core/events';
import { readEnrollment, signalIfSame, verifyIdentity, type KillFn } from '@agent-runner/core/identity';
import type { Ledger } from '@agent-runner/core/ledger';
import { requestStop } from '@agent-runner/core/markers';
import type { ProjectPaths } from '@agent-runner/core/paths';
import { iso, PEEK_SCHEMA_VERSION, peekDefenses, peekLedger, peekService } from '@agent-runner/core/peek';
import { BOOTSTRAP_EVENTS, type HostSource, type PollResult, type StopResult } from './source.js';
import type { HostSnapshot } from './snapshot.js';
import { memory } from './system.js';

/** Dependencies of {@link LocalSource}. */
export interface LocalSourceDeps {
  /** The project's ledger, opened by the monitor (it also writes its alerts there). */
  ledger: Ledger;
  /** Wall clock, epoch ms. */
  now: () => number;
  /** Sends a signal (identity is verified right before). */
  kill: KillFn;
  /** Waits `ms` unless aborted; resolves false when aborted. */
  sleep: (ms: number) => Promise<boolean>;
  /** Read memory through systeminformation (default true; the bench turns it off). */
  system?: boolean;
}

const RECENT = 20;

/**
 * The monitor's view of the project on this host: `service` and the ledger's part from the
 * readers `peek --json` uses (core/peek), the event stream read from a byte cursor (each poll
 * reads only what was appended), statfs of the state and log directories (core/disk, as peek)
 * and memory from systeminformation.
 */
export class LocalSource implements HostSource {
  readonly host = 'local';
  readonly origin = hostname();
  readonly paths: ProjectPaths;
  private cursor: EventCursor | null | undefined;
  private readonly recent: EventRecord[] = [];
  private head: string | undefined;
  /** Cached `git stash list` (refreshed only when a round ended: a stash follows a round). */
  private stashCache: Array<{ sha: string; round: number }> | undefined;

  constructor(
    private readonly cfg: AgentRunnerConfig,
    private readonly deps: LocalSourceDeps,
  ) {
    this.paths = configPaths(cfg);
  }

  /** Events appended since the last call (the first call: the newest {@link BOOTSTRAP_EVENTS}). */
  newEvents(): EventRecord[] {
    const dir = this.paths.eventsDir;
    if (this.cursor === undefined) {
      const boot = lastEvents(dir, { n: BOOTSTRAP_EVENTS }).events;
      this.cursor = endCursor(dir);
      return boot;
    }
    const out: EventRecord[] = [];
    for (;;) {
      const r = eventsSince(dir, { cursor: this.cursor, limit: 10_000 });
      this.cursor = r.cursor;
      for (const e of r.events) out.push(e);
      if (r.done) return out;
    }
  }

  /** The work tree's HEAD moved since the last call (an agent that commits by itself was productive). */
  headMoved(): boolean {
    let head: string;
    try {
      head = execFileSync('git', ['rev-parse', '-q', 'HEAD'], {
        cwd: this.cfg.runtime.work_dir,
        encoding: 'utf8',
        timeout: 5000,
        stdio: ['ignore', 'pipe', 'ignore'],
      }).trim();
    } catch {
      // not a git work tree, no commit yet, or git missing or slow: "did not move"
      return false;
    }
    const moved = this.head !== undefined && head !== this.head;
    this.head = head;
    return moved;
  }

  /** The runner's stashes (`agent-runner round N` in the message), newest first; [] when none or not git. */
  stashes(): Array<{ sha: string; round: number }> {
    let text: string;
    try {
      text = execFileSync('git', ['stash', 'list', '--format=%H%x00%gs'], {
        cwd: this.cfg.runtime.work_dir,
        encoding: 'utf8',
        timeout: 5000,
        stdio: ['ignore', 'pipe', 'ignore'],
      });
    } catch {
      // not a git work tree, or git missing or slow: no stashes to count
      return [];
    }
    const out: Array<{ sha: string; round: number }> = [];
    for (const line of text.split('\n')) {
      const [sha, subject] = line.split('\0');
      const m = /agent-runner round (\d+)/.exec(subject ?? '');
      if (sha && m) out.push({ sha, round: Number(m[1]) });
    }
    return out;
  }

  /** Builds the snapshot (peek-equivalent) at `nowMs`. */
  async snapshot(nowMs: number): Promise<HostSnapshot> {
    const { paths, cfg } = this;
    const ledger = this.deps.ledger;
    const { service, running } = peekService(paths, nowMs);
    const part = peekLedger(ledger, cfg, nowMs, { running });
    const breakers = ledger.watchdog
      .listHealStates()
      .filter((h) => h.breaker === 'open')
      .map((h) => h.target);
    const du = tightestDisk([paths.stateDir, paths.logDir]);
    const mem = this.deps.system !== false ? await memory() : null;
    return {
      schema_version: PEEK_SCHEMA_VERSION,
      project: cfg.project,
      generated_at: iso(nowMs) as string,
      service,
      current_round: part.current_round,
      rounds: part.rounds,
      counts_24h: part.counts_24h,
      today: part.today,
      backoff: null,
      rate_limit: part.rate_limit,
      orphan_stashes: this.stashCache ?? (this.stashCache = this.stashes()),
      system: {
        disk: du ? { path: du.path, free_bytes: du.free_bytes, used_pct: du.used_pct } : null,
        memory: mem,
        agent_process_count: 0,
      },
      defenses: peekDefenses(cfg, paths.stopFile),
      alarms: part.alarms,
      recent_events: [...this.recent],
      heal_breakers_open: breakers,
    };
  }

  async poll(): Promise<PollResult> {
    const nowMs = this.deps.now();
    const events = this.newEvents();
    if (events.some((e) => e.kind === 'round_end' || e.kind === 'vcs_stashed')) this.stashCache = undefined;
    for (const e of events) {
      this.recent.push(e);
      if (this.recent.length > RECENT) this.recent.shift();
    }
    const snapshot = await this.snapshot(nowMs);
    return { snapshot, events, bytes: 0 };
  }

  /** What `agent-runner stop` does: the stop request, then SIGTERM to the verified serve process. */
  async stop(reason: string): Promise<StopResult> {
    const nowMs = this.deps.now();
    // On a full disk the request cannot be written; the SIGTERM alone still stops serve.
    let unwritten = '';
    try {
      requestStop(this.paths, { by: 'monitor', reason, nowMs });
    } catch (e) {
      unwritten = ` (stop request not written: ${(e as Error).message})`;
    }
    const rec = readEnrollment(this.paths, 'runner');
    if (!rec || verifyIdentity(rec).verdict !== 'same')
      return { result: 'not_running', detail: `runner not running${unwritten || '; the stop request stays for the next serve'}` };
    const sent = signalIfSame(rec, 'SIGTERM', this.deps.kill);
    if (!sent.sent) return { result: 'not_running', detail: `not signalled: ${sent.reason}` };
    for (let i = 0; i < 600; i++) {
      if (verifyIdentity(rec).verdict !== 'same') return { result: 'stopped', detail: `serve pid ${rec.pid} stopped${unwritten}` };
      if (!(await this.deps.sleep(100))) break;
    }
    return { result: 'failed', detail: `serve pid ${rec.pid} still running 60 s after SIGTERM (a round finishes first)` };
  }

  close(): void {
    // The ledger belongs to the caller.
  }
}
