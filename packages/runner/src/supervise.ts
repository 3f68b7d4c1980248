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
 * Supervises the round until the agent has exited and its group is empty (or killed), then
 * asks the classifier for its verdict.
 *
 * Never throws for the agent's behaviour; classifier exceptions are reported as events and
 * the line is skipped. The caller owns the log (not closed here) and the handle's spawn.
 */
export async function superviseRound(opts: SuperviseOptions): Promise<SuperviseResult> {
  const now = opts.now ?? Date.now;
  const start = opts.startedAtMs ?? now();
  const { handle, classifier, limits } = opts;
  const pgid = handle.pgid;
  const procRoot = opts.procRoot ?? '/proc';
  const splitter = opts.lineSplitter ?? new LineSplitter();
  const emit = (kind: SuperviseEventKind, payload: Record<string, unknown>): void => {
    try {
      opts.onEvent?.(kind, payload);
    } catch {
      // A failing event sink must not stop supervision.
    }
  };

  let outputBytes = 0;
  let lastOutput = now();
  let resultSeen = false;
  let leader: AgentExit | undefined;
  let killedBy: KilledBy | undefined;
  let killing: Promise<KillReport> | undefined;
  let killStarted: () => void = () => undefined;
  const killStartedP = new Promise<void>((res) => (killStarted = res));
  let graceStartedAt: number | undefined;
  let extended = false;
  let finished = false;
  let truncWarned = false;
  let logWarned = false;
  let classifierWarned = false;
  let lines = 0;
  const timers = new Set<NodeJS.Timeout>();
  const immediates = new Set<NodeJS.Immediate>();

  /**
   * setTimeout that accepts delays beyond ~24.8 days by re-arming, and judges one loop turn
   * late: after a freeze of this process (SIGSTOP, a long synchronous stretch) node runs the
   * expired timers BEFORE it polls the pipe, so output the agent wrote meanwhile — its
   * result, its exit — is still unread. setImmediate runs after that poll.
   */
  const after = (ms: number, fn: () => void): void => {
    const due = now() + ms;
    const arm = (left: number): void => {
      const t = setTimeout(() => {
        timers.delete(t);
        if (finished) return;
        const rest = due - now();
        if (rest > 0 && left > MAX_TIMER) {
          arm(rest);
          return;
        }
        const i = setImmediate(() => {
          immediates.delete(i);
          if (!finished) fn();
        });
        immediates.add(i);
      }, Math.min(Math.max(0, left), MAX_TIMER));
      timers.add(t);
    };
    arm(ms);
  };

  /** A sleep whose timer is cleared when supervision ends, so it never holds the process. */
  const delay = (ms: number): Promise<void> =>
    new Promise((res) => {
      const t = setTimeout(() => {
        timers.delete(t);
        res();
      }, ms);
      timers.add(t);
    });

  const startKill = (by: KilledBy | undefined, kind: SuperviseEventKind, payload: Record<string, unknown>): void => {
    if (killing || finished) return;
    killedBy = by;
    emit(kind, payload);
    killing = killGroup(pgid, { graceMs: limits.killGraceMs, procRoot, kill: opts.kill }).then((r) => {
      emit('round_kill_result', {
        killed_by: by ?? 'leftovers',
        term_sent: r.termSent,
        kill_sent: r.killSent,
        duration_ms: Math.round(r.durationMs),
        survivors: r.survivors.map(child),
      });
      return r;
    });
    killStarted();
  };

  const onGrace = (): void => {
    if (killing || finished) return;
    const { live, ignored } = liveWorkers(pgid, { ignorePatterns: limits.ignorePatterns, procRoot });
    const afterExit = leader !== undefined;
    if (live.length > 0) {
      if (!extended) {
        extended = true;
        emit('round_grace_extended', {
          grace_ms: limits.graceAfterResultMs,
          live_children: live.map(child),
          ignored_children: ignored.map(child),
          after_exit: afterExit,
        });
      }
      const poll = limits.workerPollMs ?? Math.min(Math.max(limits.graceAfterResultMs, 0), 5000);
      after(Math.max(100, poll), onGrace);
      return;
    }
    const leaderAlive = !afterExit && liveMembers(pgid, procRoot).some((m) => m.pid === pgid);
    if (!leaderAlive && ignored.length === 0) return; // nothing left; the exit path finishes
    startKill(afterExit ? undefined : 'grace', 'round_grace_kill', {
      grace_ms: limits.graceAfterResultMs,
      waited_ms: now() - (graceStartedAt ?? now()),
      ignored_children: ignored.map(child),
      after_exit: afterExit,
    });
  };

  const startGrace = (): void => {
    if (graceStartedAt !== undefined) return;
    graceStartedAt = now();
    after(Math.max(0, limits.graceAfterResultMs), onGrace);
  };

  const onLine = (l: SplitLine): void => {
    lines = l.lineNo;
    if (l.truncated && !truncWarned) {
      truncWarned = true;
      emit('round_line_truncated', { line: l.lineNo, max_length: l.text.length });
    }
    let sig;
    try {
      sig = classifier.line(l.text, l.lineNo);
    } catch (e) {
      if (!classifierWarned) {
        classifierWarned = true;
        emit('classifier_error', { line: l.lineNo, message: (e as Error).message });
      }
      return;
    }
    if (!sig || finished) return;
    if (sig.kind === 'final_result') {
      if (!resultSeen) {
        resultSeen = true;
        startGrace();
      }
    } else if (sig.kind === 'fatal') {
      startKill('fatal', 'round_fatal_kill', { class: sig.class, evidence: sig.evidence });
    }
  };

  const checkLog = (): void => {
    const error = opts.log?.error;
    if (!error || logWarned) return;
    logWarned = true;
    emit('round_log_error', { message: error.message, code: error.code ?? null, dropped_bytes: opts.log?.droppedBytes ?? 0 });
  };
  checkLog();
  const unsubscribe = handle.onData((chunk) => {
    outputBytes += typeof chunk === 'string' ? Buffer.byteLength(chunk, 'utf8') : chunk.length;
    lastOutput = now();
    if (opts.log) {
      opts.log.write(chunk);
      checkLog();
    }
    for (const l of splitter.push(chunk)) onLine(l);
  });

  if (enabled(limits.roundTimeoutMs)) {
    // The ceiling counts from the round's start, which may precede this call.
    after(Math.max(0, start + limits.roundTimeoutMs - now()), () => {
      const live = liveMembers(pgid, procRoot);
      // Nothing left to end: the agent finished (its exit may not be reported yet).
      if (live.length === 0) return;
      startKill('timeout', 'round_timeout_kill', { timeout_ms: limits.roundTimeoutMs, live_children: live.map(child) });
    });
  }
  if (enabled(limits.inactivityTimeoutMs)) {
    const check = (): void => {
      // After the result the grace rules decide; after the exit the leftover rules do.
      if (resultSeen || leader || killing) return;
      // lastOutput is when the latest output was read, which `after` lets happen first: the
      // agent wrote it then or earlier, so the measured silence is never longer than its own.
      const idle = now() - lastOutput;
      if (idle < limits.inactivityTimeoutMs) {
        after(limits.inactivityTimeoutMs - idle, check);
      } else if (liveMembers(pgid, procRoot).length > 0) {
        startKill('inactivity', 'round_inactivity_kill', { idle_ms: idle, limit_ms: limits.inactivityTimeoutMs });
      }
    };
    after(limits.inactivityTimeoutMs, check);
  }
  const onAbort = (): void => {
    const reason = opts.signal?.reason;
    startKill('operator', 'round_operator_kill', {
      reason: reason instanceof Error ? reason.message : reason === undefined ? 'aborted' : String(reason),
    });
  };
  // Known as soon as it happens, so the grace decision never mistakes a just-exited agent
  // for a live one.
  void handle.exited.then((e) => {
    leader ??= e;
  });
  if (opts.signal) {
    if (opts.signal.aborted) onAbort();
    else opts.signal.addEventListener('abort', onAbort, { once: true });
  }

  try {
    // 1. The agent exits, by itself or because a kill reached it. A kill that leaves the
    //    agent alive (uninterruptible sleep) ends the wait too.
    leader = await Promise.race([
      handle.exited,
      killStartedP.then(async () => {
        const r = await (killing as Promise<KillReport>);
        if (!r.survivors.some((m) => m.pid === pgid)) return handle.exited;
        return Promise.race([handle.exited, delay(limits.drainMs ?? 1000).then(() => undefined)]);
      }),
    ]);

    // 2. Its group must be empty too: wait for leftovers under the grace and timeout rules.
    if (!killing && liveMembers(pgid, procRoot).length > 0) {
      startGrace();
      const pollMs = limits.groupPollMs ?? 100;
      while (!killing && liveMembers(pgid, procRoot).length > 0) {
        await Promise.race([delay(pollMs), killStartedP]);
      }
    }
    const report = killing ? await killing : undefined;
    if (leader === undefined) leader = await Promise.race([handle.exited, delay(0).then(() => undefined)]);

    // 3. Drain what is still in the pipe, then release it.
    await Promise.race([handle.closed, delay(limits.drainMs ?? 1000)]);
    handle.dispose();
    unsubscribe();
    // The group is gone: late lines still reach the classifier, but nothing acts on them.
    finished = true;
    for (const l of splitter.end()) onLine(l);

    const outcome: ProcessOutcome = {
      exitCode: leader?.exitCode ?? null,
      signal: leader?.signal ?? null,
      durationMs: Math.max(0, now() - start),
      outputBytes,
      ...(killedBy ? { killedBy } : {}),
    };
    const verdict = classifier.finish(outcome);
    const survivors = report?.survivors ?? [];
    return {
      outcome,
      verdict,
      ...(killedBy ? { killedBy } : {}),
      ...(report ? { kill: report } : {}),
      lines,
      survivors,
    };
  } finally {
    finished = true;
    for (const t of timers) clearTimeout(t);
    timers.clear();
    for (const i of immediates) clearImmediate(i);
    immediates.clear();
    opts.signal?.removeEventListener('abort', onAbort);
  }
}
