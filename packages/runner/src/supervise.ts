/**
 * Supervision of one running round: output to the round log and, line by line, to the
 * adapter's classifier; the limits (hard wall clock, inactivity, grace after the final
 * result); and the end of the round, which comes only when the agent has exited AND nothing
 * of its process group is left running.
 *
 * Decisions, in the order they can happen:
 * - a `fatal` line (auth): end the group at once (killedBy `fatal`);
 * - no output for `inactivityTimeoutMs` before the result: end it (`inactivity`);
 * - `graceAfterResultMs` after the first `final_result` (or after the agent exits while
 *   members of its group live on): with live workers — members other than the agent that
 *   match no ignore pattern — emit `round_grace_extended` once and re-check every
 *   `workerPollMs` until they are gone; with none, end the group (`grace`);
 * - `roundTimeoutMs` after the start, whatever the state: end it (`timeout`);
 * - the caller's AbortSignal (operator kill, second SIGTERM): end it (`operator`).
 * "End the group" is {@link killGroup}: SIGTERM, `killGraceMs`, SIGKILL, confirmation.
 * Timed verdicts are taken only after the output already in the pipe or terminal was read,
 * and a wall-clock or inactivity kill only when the group still has a live member: a frozen
 * supervisor (SIGSTOP, a blocked event loop) must not kill a round that worked, or finished,
 * while it was frozen.
 */
import type { Classifier, ProcessOutcome, Verdict } from './adapters/types.js';
import type { AgentExit, AgentHandle } from './agent-process.js';
import { LineSplitter, type SplitLine } from './line-splitter.js';
import { killGroup, liveMembers, liveWorkers, type GroupMember, type KillReport } from './process-group.js';

/** Limits of one round; a value <= 0 or non-finite disables a timeout. */
export interface SuperviseLimits {
  /** Hard wall-clock ceiling of the round, ms. */
  roundTimeoutMs: number;
  /** Longest silence before the final result, ms. */
  inactivityTimeoutMs: number;
  /** Wait after the final result (or the agent's exit) before judging the group, ms. */
  graceAfterResultMs: number;
  /** Between SIGTERM and SIGKILL when ending the group, ms. */
  killGraceMs: number;
  /** cmdline regexes of idle helpers that do not count as live work after the result. */
  ignorePatterns: RegExp[];
  /** Re-check interval once the grace was extended, ms (default min(grace, 5000), at least 100). */
  workerPollMs?: number;
  /** /proc poll interval while the agent has exited but its group lives on, ms (default 100). */
  groupPollMs?: number;
  /** How long to wait for the output stream to end once the group is gone, ms (default 1000). */
  drainMs?: number;
}

/**
 * Event kinds {@link superviseRound} reports through `onEvent`, with their payloads:
 * - `round_fatal_kill` {class, evidence}
 * - `round_inactivity_kill` {idle_ms, limit_ms}
 * - `round_timeout_kill` {timeout_ms, live_children}
 * - `round_grace_extended` {grace_ms, live_children, ignored_children, after_exit}
 * - `round_grace_kill` {grace_ms, waited_ms, ignored_children, after_exit}
 * - `round_operator_kill` {reason}
 * - `round_kill_result` {killed_by, term_sent, kill_sent, duration_ms, survivors}
 * - `round_line_truncated` {line, max_length} (first truncated line only)
 * - `round_log_error` {message, code, dropped_bytes} (the log's first failure only, also one
 *   from before the round; the round goes on, its output still classified and counted)
 * - `classifier_error` {line, message} (first throw only; the line is skipped)
 * Children are `{pid, comm, state, cmdline}` with cmdline cut to 200 characters (not
 * redacted: the event writer's redaction applies).
 */
export type SuperviseEventKind =
  | 'round_fatal_kill'
  | 'round_inactivity_kill'
  | 'round_timeout_kill'
  | 'round_grace_extended'
  | 'round_grace_kill'
  | 'round_operator_kill'
  | 'round_kill_result'
  | 'round_line_truncated'
  | 'round_log_error'
  | 'classifier_error';

/** Where the output goes besides the classifier; a {@link RoundLog} fits. */
export interface OutputSink {
  /** Never throws (a failure is kept in `error`). */
  write(chunk: Buffer | string): void;
  readonly error?: NodeJS.ErrnoException | undefined;
  readonly droppedBytes?: number;
}

/** Options of {@link superviseRound}. */
export interface SuperviseOptions {
  handle: Pick<AgentHandle, 'pgid' | 'onData' | 'exited' | 'closed' | 'dispose'>;
  classifier: Classifier;
  /** Default: a new {@link LineSplitter} with the 1 MiB cap. */
  lineSplitter?: LineSplitter;
  /** The round log; never closed here. */
  log?: OutputSink;
  limits: SuperviseLimits;
  onEvent?: (kind: SuperviseEventKind, payload: Record<string, unknown>) => void;
  /** Clock, ms since epoch (default Date.now); durations are measured with it. */
  now?: () => number;
  /** Round start for durationMs (default: now() at the call). */
  startedAtMs?: number;
  /** Aborting ends the group (killedBy `operator`); `reason` goes into the event. */
  signal?: AbortSignal;
  /** Sends a signal (`process.kill`, passed in by the process's entry point). */
  kill: (pid: number, signal: NodeJS.Signals) => void;
  procRoot?: string;
}

/** How the round went. */
export interface SuperviseResult {
  outcome: ProcessOutcome;
  verdict: Verdict;
  /** Same as outcome.killedBy. */
  killedBy?: ProcessOutcome['killedBy'];
  /** What ending the group did, when it was ended (also for leftovers after the agent's exit). */
  kill?: KillReport;
  /** Lines handed to the classifier. */
  lines: number;
  /** Non-zombie members still present at the end (only if SIGKILL could not end them). */
  survivors: GroupMember[];
}

type KilledBy = NonNullable<ProcessOutcome['killedBy']>;

const MAX_TIMER = 2 ** 31 - 1;

function enabled(ms: number): boolean {
  return Number.isFinite(ms) && ms > 0;
}

function child(m: GroupMember): Record<string, unknown> {
  return { pid: m.pid, comm: m.comm, state: m.state, cmdline: m.cmdline.length > 200 ? `${m.cmdline.slice(0, 200)}…` : m.cmdline };
}

/**
 * The timers of one supervision, all cleared at its end so none holds the process or acts
 * on a finished round.
 */
class RoundTimers {
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly immediates = new Set<NodeJS.Immediate>();

  constructor(
    private readonly now: () => number,
    private readonly finished: () => boolean,
  ) {}

  /**
   * setTimeout that accepts delays beyond ~24.8 days by re-arming, and judges one loop turn
   * late: after a freeze of this process (SIGSTOP, a long synchronous stretch) node runs the
   * expired timers BEFORE it polls the pipe, so output the agent wrote meanwhile — its
   * result, its exit — is still unread. setImmediate runs after that poll.
   */
  after(ms: number, fn: () => void): void {
    const due = this.now() + ms;
    const arm = (left: number): void => {
      const t = setTimeout(
        () => {
          this.timers.delete(t);
          if (this.finished()) return;
          const rest = due - this.now();
          if (rest > 0 && left > MAX_TIMER) {
            arm(rest);
            return;
          }
          const i = setImmediate(() => {
            this.immediates.delete(i);
            if (!this.finished()) fn();
          });
          this.immediates.add(i);
        },
        Math.min(Math.max(0, left), MAX_TIMER),
      );
      this.timers.add(t);
    };
    arm(ms);
  }

  /** A sleep whose timer is cleared with the others. */
  delay(ms: number): Promise<void> {
    return new Promise((res) => {
      const t = setTimeout(() => {
        this.timers.delete(t);
        res();
      }, ms);
      this.timers.add(t);
    });
  }

  clear(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const i of this.immediates) clearImmediate(i);
    this.immediates.clear();
  }
}

/** One round under supervision: its state, and the decisions of the module comment as methods. */
class RoundSupervision {
  private readonly now: () => number;
  private readonly start: number;
  private readonly pgid: number;
  private readonly procRoot: string;
  private readonly splitter: LineSplitter;
  private readonly timers: RoundTimers;
  private readonly limits: SuperviseLimits;

  private outputBytes = 0;
  private lastOutput: number;
  private resultSeen = false;
  private leader: AgentExit | undefined;
  private killedBy: KilledBy | undefined;
  private killing: Promise<KillReport> | undefined;
  private killStarted: () => void = () => undefined;
  private readonly killStartedP = new Promise<void>((res) => (this.killStarted = res));
  private graceStartedAt: number | undefined;
  private extended = false;
  private finished = false;
  private lines = 0;
  /** Events reported once per round (the first truncated line, log failure, classifier throw). */
  private readonly warned = new Set<SuperviseEventKind>();

  constructor(private readonly opts: SuperviseOptions) {
    this.now = opts.now ?? Date.now;
    this.start = opts.startedAtMs ?? this.now();
    this.lastOutput = this.now();
    this.pgid = opts.handle.pgid;
    this.procRoot = opts.procRoot ?? '/proc';
    this.splitter = opts.lineSplitter ?? new LineSplitter();
    this.limits = opts.limits;
    this.timers = new RoundTimers(this.now, () => this.finished);
  }

  private emit(kind: SuperviseEventKind, payload: Record<string, unknown>): void {
    try {
      this.opts.onEvent?.(kind, payload);
    } catch {
      // A failing event sink must not stop supervision.
    }
  }

  private emitOnce(kind: SuperviseEventKind, payload: () => Record<string, unknown>): void {
    if (this.warned.has(kind)) return;
    this.warned.add(kind);
    this.emit(kind, payload());
  }

  private live(): GroupMember[] {
    return liveMembers(this.pgid, this.procRoot);
  }

  /** Ends the group once ({@link killGroup}); `by` undefined: leftovers after the agent's exit. */
  private startKill(by: KilledBy | undefined, kind: SuperviseEventKind, payload: Record<string, unknown>): void {
    if (this.killing || this.finished) return;
    this.killedBy = by;
    this.emit(kind, payload);
    this.killing = killGroup(this.pgid, { graceMs: this.limits.killGraceMs, procRoot: this.procRoot, kill: this.opts.kill }).then((r) => {
      this.emit('round_kill_result', {
        killed_by: by ?? 'leftovers',
        term_sent: r.termSent,
        kill_sent: r.killSent,
        duration_ms: Math.round(r.durationMs),
        survivors: r.survivors.map(child),
      });
      return r;
    });
    this.killStarted();
  }

  /** The grace after the result (or the exit) is over: extend it for live workers, or end the group. */
  private onGrace(): void {
    if (this.killing || this.finished) return;
    const { limits, pgid } = this;
    const { live, ignored } = liveWorkers(pgid, { ignorePatterns: limits.ignorePatterns, procRoot: this.procRoot });
    const afterExit = this.leader !== undefined;
    if (live.length > 0) {
      if (!this.extended) {
        this.extended = true;
        this.emit('round_grace_extended', {
          grace_ms: limits.graceAfterResultMs,
          live_children: live.map(child),
          ignored_children: ignored.map(child),
          after_exit: afterExit,
        });
      }
      const poll = limits.workerPollMs ?? Math.min(Math.max(limits.graceAfterResultMs, 0), 5000);
      this.timers.after(Math.max(100, poll), () => this.onGrace());
      return;
    }
    const leaderAlive = !afterExit && this.live().some((m) => m.pid === pgid);
    if (!leaderAlive && ignored.length === 0) return; // nothing left; the exit path finishes
    this.startKill(afterExit ? undefined : 'grace', 'round_grace_kill', {
      grace_ms: limits.graceAfterResultMs,
      waited_ms: this.now() - (this.graceStartedAt ?? this.now()),
      ignored_children: ignored.map(child),
      after_exit: afterExit,
    });
  }

  private startGrace(): void {
    if (this.graceStartedAt !== undefined) return;
    this.graceStartedAt = this.now();
    this.timers.after(Math.max(0, this.limits.graceAfterResultMs), () => this.onGrace());
  }

  /** One line to the classifier: a result starts the grace, a fatal line ends the group. */
  private onLine(l: SplitLine): void {
    this.lines = l.lineNo;
    if (l.truncated) this.emitOnce('round_line_truncated', () => ({ line: l.lineNo, max_length: l.text.length }));
    let sig;
    try {
      sig = this.opts.classifier.line(l.text, l.lineNo);
    } catch (e) {
      this.emitOnce('classifier_error', () => ({ line: l.lineNo, message: (e as Error).message }));
      return;
    }
    if (!sig || this.finished) return;
    if (sig.kind === 'final_result') {
      if (!this.resultSeen) {
        this.resultSeen = true;
        this.startGrace();
      }
    } else if (sig.kind === 'fatal') {
      this.startKill('fatal', 'round_fatal_kill', { class: sig.class, evidence: sig.evidence });
    }
  }

  private checkLog(): void {
    const log = this.opts.log;
    const error = log?.error;
    if (error)
      this.emitOnce('round_log_error', () => ({ message: error.message, code: error.code ?? null, dropped_bytes: log?.droppedBytes ?? 0 }));
  }

  private onData(chunk: Buffer | string): void {
    this.outputBytes += typeof chunk === 'string' ? Buffer.byteLength(chunk, 'utf8') : chunk.length;
    this.lastOutput = this.now();
    if (this.opts.log) {
      this.opts.log.write(chunk);
      this.checkLog();
    }
    for (const l of this.splitter.push(chunk)) this.onLine(l);
  }

  /** The wall-clock ceiling, counted from the round's start (which may precede supervision). */
  private armTimeout(): void {
    const { roundTimeoutMs } = this.limits;
    if (!enabled(roundTimeoutMs)) return;
    this.timers.after(Math.max(0, this.start + roundTimeoutMs - this.now()), () => {
      const live = this.live();
      // Nothing left to end: the agent finished (its exit may not be reported yet).
      if (live.length === 0) return;
      this.startKill('timeout', 'round_timeout_kill', { timeout_ms: roundTimeoutMs, live_children: live.map(child) });
    });
  }

  private armInactivity(): void {
    const limit = this.limits.inactivityTimeoutMs;
    if (!enabled(limit)) return;
    const check = (): void => {
      // After the result the grace rules decide; after the exit the leftover rules do.
      if (this.resultSeen || this.leader || this.killing) return;
      // lastOutput is when the latest output was read, which `after` lets happen first: the
      // agent wrote it then or earlier, so the measured silence is never longer than its own.
      const idle = this.now() - this.lastOutput;
      if (idle < limit) this.timers.after(limit - idle, check);
      else if (this.live().length > 0) this.startKill('inactivity', 'round_inactivity_kill', { idle_ms: idle, limit_ms: limit });
    };
    this.timers.after(limit, check);
  }

  private readonly onAbort = (): void => {
    const reason = this.opts.signal?.reason;
    this.startKill('operator', 'round_operator_kill', {
      reason: reason instanceof Error ? reason.message : reason === undefined ? 'aborted' : String(reason),
    });
  };

  /**
   * The agent exits, by itself or because a kill reached it. A kill that leaves the agent
   * alive (uninterruptible sleep) ends the wait too.
   */
  private async agentExit(): Promise<AgentExit | undefined> {
    const { handle } = this.opts;
    return Promise.race([
      handle.exited,
      this.killStartedP.then(async () => {
        const r = await (this.killing as Promise<KillReport>);
        if (!r.survivors.some((m) => m.pid === this.pgid)) return handle.exited;
        return Promise.race([handle.exited, this.timers.delay(this.limits.drainMs ?? 1000).then(() => undefined)]);
      }),
    ]);
  }

  /** Its group must be empty too: wait for leftovers under the grace and timeout rules. */
  private async groupEmpty(): Promise<void> {
    if (this.killing || this.live().length === 0) return;
    this.startGrace();
    const pollMs = this.limits.groupPollMs ?? 100;
    while (!this.killing && this.live().length > 0) {
      await Promise.race([this.timers.delay(pollMs), this.killStartedP]);
    }
  }

  async run(): Promise<SuperviseResult> {
    const { handle, signal } = this.opts;
    this.checkLog();
    const unsubscribe = handle.onData((chunk) => this.onData(chunk));
    this.armTimeout();
    this.armInactivity();
    // Known as soon as it happens, so the grace decision never mistakes a just-exited agent
    // for a live one.
    void handle.exited.then((e) => {
      this.leader ??= e;
    });
    if (signal) {
      if (signal.aborted) this.onAbort();
      else signal.addEventListener('abort', this.onAbort, { once: true });
    }
    try {
      this.leader = await this.agentExit();
      await this.groupEmpty();
      const report = this.killing ? await this.killing : undefined;
      if (this.leader === undefined) this.leader = await Promise.race([handle.exited, this.timers.delay(0).then(() => undefined)]);

      // Drain what is still in the pipe, then release it.
      await Promise.race([handle.closed, this.timers.delay(this.limits.drainMs ?? 1000)]);
      handle.dispose();
      unsubscribe();
      // The group is gone: late lines still reach the classifier, but nothing acts on them.
      this.finished = true;
      for (const l of this.splitter.end()) this.onLine(l);
      return this.result(report);
    } finally {
      this.finished = true;
      this.timers.clear();
      signal?.removeEventListener('abort', this.onAbort);
    }
  }

  private result(report: KillReport | undefined): SuperviseResult {
    const { leader, killedBy } = this;
    const outcome: ProcessOutcome = {
      exitCode: leader?.exitCode ?? null,
      signal: leader?.signal ?? null,
      durationMs: Math.max(0, this.now() - this.start),
      outputBytes: this.outputBytes,
      ...(killedBy ? { killedBy } : {}),
    };
    return {
      outcome,
      verdict: this.opts.classifier.finish(outcome),
      ...(killedBy ? { killedBy } : {}),
      ...(report ? { kill: report } : {}),
      lines: this.lines,
      survivors: report?.survivors ?? [],
    };
  }
}

/**
 * Supervises the round until the agent has exited and its group is empty (or killed), then
 * asks the classifier for its verdict.
 *
 * Never throws for the agent's behaviour; classifier exceptions are reported as events and
 * the line is skipped. The caller owns the log (not closed here) and the handle's spawn.
 */
export function superviseRound(opts: SuperviseOptions): Promise<SuperviseResult> {
  return new RoundSupervision(opts).run();
}
