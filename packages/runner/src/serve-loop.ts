import { existsSync, readFileSync, rmSync } from 'node:fs';
import type { AgentRunnerConfig } from '@agent-runner/core/config';
import { isNoSpace } from '@agent-runner/core/disk';
import { EXIT, isAgentRunnerError } from '@agent-runner/core/errors';
import type { EventWriter } from '@agent-runner/core/events';
import { probeUnit } from '@agent-runner/core/health';
import { verifyIdentity, type EnrollmentRecord } from '@agent-runner/core/identity';
import type { Ledger, RunnerIdentity } from '@agent-runner/core/ledger';
import { clearStopRequest, readStopRequest, requestRestart } from '@agent-runner/core/markers';
import type { ProjectPaths } from '@agent-runner/core/paths';
import { redactText } from '@agent-runner/core/redact';
import { sleep } from '@agent-runner/core/sleep';
import type { ExitReason, Unit } from '@agent-runner/core/unit';
import { VERSION } from '@agent-runner/core/version';
import { pausedUntil, type RunnerDetail, type ShowActivity } from './activity.js';
import { adapterFor } from './adapters/index.js';
import { DiskGuard, roundLedger, type DeferredWrite } from './disk-gate.js';
import { Episodes } from './episodes.js';
import { holdBeforeRound } from './gates.js';
import { decide, initialPolicyState, TRANSIENT, type Decision } from './policy.js';
import { roundOutcome } from '@agent-runner/core/hook-input';
import type { HookRoundOutcome } from '@agent-runner/core/hooks';
import { assemblePromptFiles, type LastOutcome } from './prompt.js';
import { clearStaleIndexLock, type IndexLockCheck } from './git-lock.js';
import { endOrphanGroup } from './process-group.js';
import { tailLines } from '@agent-runner/core/tail';
import { promptSpec, roundPhase, runRound, type RoundResult } from './round.js';
import type { ServeDeps } from './serve.js';
import { outcomeOf, ServeHooks, type HookStop } from './serve-hooks.js';
import { gitPath } from './vcs.js';

/** What the loop needs from the start-up (serve.ts). */
export interface ServeSession {
  cfg: AgentRunnerConfig;
  deps: ServeDeps;
  paths: ProjectPaths;
  events: EventWriter;
  ledger: Ledger;
  unit: Unit;
  /** The enrollment record of the serve before this one (read before this one enrolled). */
  previous: EnrollmentRecord | undefined;
  now: () => number;
  /** Writes the clean-exit record and returns `code`. */
  close: (code: number, reason: ExitReason, detail?: string) => number;
}

/**
 * Closes rounds a previous serve left `running` as `interrupted`, with an event each. The old
 * serve's enrollment record (same nonce as the row) tells how it went away. Idempotent, so a
 * full disk can retry it.
 */
function recoverInterrupted(s: ServeSession): void {
  const rec = s.previous;
  for (const r of s.ledger.runner.runningRounds()) {
    if (r.runnerNonce === s.unit.record.nonce) continue;
    const verdict =
      rec && rec.nonce === r.runnerNonce ? verifyIdentity(rec, s.deps.procRoot ? { procRoot: s.deps.procRoot } : {}).verdict : 'gone';
    const reason = verdict === 'other-boot' ? 'host_rebooted' : verdict === 'recycled' ? 'pid_recycled' : 'process_gone';
    if (s.ledger.runner.markInterrupted(r.round, reason)) {
      s.events.emit(
        'round_interrupted',
        { previous_pid: r.pid, reason, started_at: new Date(r.startedAtMs).toISOString() },
        { round: r.round },
      );
    }
  }
}

/**
 * Ends the agent process groups that outlived the serve which ran their rounds (a SIGKILLed
 * serve outside systemd leaves its agent running: under systemd the cgroup goes with it), so
 * round N+1 never shares the work tree with round N's agent. Each group is proven by the start
 * time its round recorded (see endOrphanGroup); anything unproven is left alone.
 */
async function endOrphans(s: ServeSession): Promise<void> {
  for (const r of s.ledger.runner.runningRounds()) {
    if (r.runnerNonce === s.unit.record.nonce || r.agentPgid === null || r.agentStarttimeTicks === null || r.agentPgid <= 1) continue;
    try {
      const res = await endOrphanGroup(
        { pgid: r.agentPgid, starttimeTicks: r.agentStarttimeTicks },
        {
          kill: s.deps.kill,
          graceMs: s.cfg.runtime.kill_grace_s * 1000,
          ...(s.deps.procRoot ? { procRoot: s.deps.procRoot } : {}),
        },
      );
      if (!res.found) continue;
      s.events.emit(
        'orphan_group_ended',
        { pgid: r.agentPgid, members: res.members.length, kill_sent: res.killSent, remaining: res.remaining.length },
        { round: r.round },
      );
      s.deps.log(
        'warning',
        `round ${r.round}: its agent (process group ${r.agentPgid}, ${res.members.length} process(es)) outlived the previous serve; ended it${res.remaining.length ? `, ${res.remaining.length} still alive` : ''}`,
      );
    } catch (e) {
      s.deps.log('warning', `round ${r.round}: cannot check its agent's process group ${r.agentPgid}: ${(e as Error).message}`);
    }
  }
}

/** Neither watches alone: the runner asks for the watchdog's restart when it judges it unhealthy, at most once per threshold. */
function watchdogJudge(s: ServeSession): () => void {
  const staleMs = Math.max(30_000, 3 * s.cfg.watchdog.interval_s * 1000);
  let askedAtMs = -Infinity;
  return () => {
    const nowMs = s.now();
    const j = probeUnit(s.paths, 'watchdog', {
      expected: false,
      staleAfterMs: staleMs,
      nowMs,
      installedVersion: undefined,
      ...(s.deps.procRoot ? { procRoot: s.deps.procRoot } : {}),
    });
    if (j.verdict !== 'unhealthy' || !j.alive || nowMs - askedAtMs < staleMs) return;
    askedAtMs = nowMs;
    requestRestart(s.paths, 'watchdog', { by: 'runner', reason: j.evidence.join('; ').slice(0, 200), nowMs });
    s.deps.log('warning', `watchdog unhealthy (${j.reasons.join(', ')}); asked for its restart`);
  };
}

const iso = (ms: number): string => new Date(ms).toISOString();

/**
 * The round loop of `serve` (see serve.ts for its exit codes): stop triggers between rounds,
 * the gates, one round, then the policy's decision, its alarm and its wait.
 */
export function serveLoop(s: ServeSession): Promise<number> {
  return new ServeLoop(s).run();
}

/** What the loop does next after a step: go on, start the next turn, or exit with a code. */
type Step = { exit: number } | 'next' | undefined;

/** One serve's loop: its state across rounds, and each step of a turn as a method. */
class ServeLoop {
  private readonly cfg: AgentRunnerConfig;
  private readonly deps: ServeDeps;
  private readonly paths: ProjectPaths;
  private readonly events: EventWriter;
  private readonly ledger: Ledger;
  private readonly unit: Unit;
  private readonly now: () => number;
  private readonly maxRounds: number;
  private readonly adapter: ReturnType<typeof adapterFor>;
  private readonly episodes: Episodes;
  private readonly disk: DiskGuard;
  private readonly hooks: ServeHooks;
  private readonly identity: RunnerIdentity;
  private readonly policy = initialPolicyState();
  private detail: RunnerDetail = {};
  private roundsRun = 0;
  private last: RoundResult | undefined;
  private fromLedger: HookRoundOutcome | null | undefined;
  private authProbes = 0;
  private failedTries = 0;
  /** The transient episode in progress: when it began, its latest class, its rounds. */
  private transient: { sinceMs: number; class: string; rounds: number } | undefined;
  /** The work tree's `index.lock` path (null: not a git work tree); resolved at the first round. */
  private indexLock: string | null | undefined;
  /** The git last seen holding it, so a long-running git is logged once, not every round. */
  private lockHolder: number | undefined;

  constructor(private readonly s: ServeSession) {
    ({ cfg: this.cfg, deps: this.deps, paths: this.paths, events: this.events, ledger: this.ledger, unit: this.unit, now: this.now } = s);
    this.maxRounds = this.deps.maxRounds ?? this.cfg.runtime.max_rounds;
    this.adapter = adapterFor(this.cfg);
    this.episodes = new Episodes(this.ledger, this.cfg.project, this.now);
    this.disk = new DiskGuard({
      paths: this.paths,
      minFreeBytes: this.cfg.runtime.disk_min_free_mb * 1048576,
      events: this.events,
      episodes: this.episodes,
      now: this.now,
      stopSignal: this.deps.stopSignal,
      log: this.deps.log,
      show: this.show,
    });
    this.hooks = new ServeHooks({
      cfg: this.cfg,
      paths: this.paths,
      events: this.events,
      env: this.deps.env,
      presetEnv: this.adapter.preset.env,
      kill: this.deps.kill,
      log: this.deps.log,
    });
    const rec = this.unit.record;
    this.identity = { pid: this.deps.pid, bootId: rec.boot_id, starttimeTicks: rec.starttime_ticks, nonce: rec.nonce };
  }

  private readonly show: ShowActivity = (state, d = {}) => {
    this.detail = d;
    this.unit.setState(state, true);
  };

  async run(): Promise<number> {
    this.unit.start({
      heartbeatMs: this.cfg.runtime.heartbeat_interval_s * 1000,
      state: 'starting',
      detail: () => ({ ...this.detail }),
      status: `serving ${this.cfg.project}`,
      onTick: watchdogJudge(this.s),
      ...(this.deps.collectGarbage ? { collectGarbage: this.deps.collectGarbage } : {}),
    });
    const started = await this.startUp();
    if (started !== undefined) return started;
    const gates = {
      cfg: this.cfg,
      paths: this.paths,
      ledger: this.ledger,
      events: this.events,
      episodes: this.episodes,
      disk: this.disk,
      account: this.adapter.name,
      now: this.now,
      stopSignal: this.deps.stopSignal,
      log: this.deps.log,
      show: this.show,
    };
    for (;;) {
      const trigger = this.stopTrigger();
      if (trigger !== undefined) return trigger;
      if (await holdBeforeRound(gates)) continue;
      const step = await this.turn();
      if (step && step !== 'next') return step.exit;
    }
  }

  private finish(reason: ExitReason, code: number, signal?: string, why?: string): number {
    // A stop request present at a stop by signal or request has been honoured (`agent-runner
    // stop` writes it and signals): leaving it would stop the next start at once.
    if (reason === 'signal' || reason === 'stop_requested') clearStopRequest(this.paths);
    this.events.emit('serve_stopped', {
      reason,
      exit_code: code,
      rounds_run: this.roundsRun,
      ...(signal ? { signal } : {}),
      uptime_s: Math.round((this.now() - this.unit.startedAtMs) / 100) / 10,
    });
    this.deps.log('notice', `stopped: ${reason} (exit ${code}, ${this.roundsRun} round(s))`);
    return this.s.close(code, reason, signal ? `${signal}` : why);
  }

  /**
   * SIGTERM: an operator's stop (0), unless the watchdog asked for this restart and nobody
   * asked for a stop (75: its T2 follows its marker, and a heal must not look like a stop).
   */
  private stopBySignal(): number {
    const signal = String(this.deps.stopSignal.reason ?? 'SIGTERM');
    if (readStopRequest(this.paths)) return this.finish('stop_requested', EXIT.OK, signal);
    const code = this.unit.signalExitCode();
    return this.finish(code === EXIT.TEMPFAIL ? 'restart_marker' : 'signal', code, signal);
  }

  private nextRound(): number {
    return (this.ledger.runner.lastRounds(1)[0]?.round ?? 0) + 1;
  }

  /** The last finished round for a hook's input: this serve's, else the ledger's newest. */
  private previousRound(): HookRoundOutcome | null {
    if (this.last) return outcomeOf(this.last);
    if (this.fromLedger === undefined) {
      const row = this.ledger.runner.lastRounds(1)[0];
      this.fromLedger = row && row.status !== 'running' ? roundOutcome(row, this.paths.eventsDir) : null;
    }
    return this.fromLedger;
  }

  /** A hook failed with `on_failure = "stop"`: exit 78 with the `config_broken` alarm naming it, like a failed start-up check. */
  private async hookStop(stop: HookStop): Promise<number> {
    const check = `hook ${stop.hook}`;
    const tail = stop.stderrTail.trim();
    const detail = `${stop.message}${tail ? `\n${tail}` : ''}`;
    this.deps.log('err', `${stop.event === 'serve_start' ? 'STARTUP FAIL' : 'HOOK FAIL'} (${check}): ${detail}`);
    this.events.emit('config_broken', { check, detail: redactText(detail).slice(0, 2000) });
    await this.disk.write('raise config alarm', () =>
      this.episodes.raise('config_broken', { check, detail: redactText(detail).slice(0, 1000) }),
    );
    return this.finish('config_broken', EXIT.CONFIG, undefined, `${check}: ${stop.message}`);
  }

  /**
   * The start is good: what stopped the previous serve is over, and a crash loop still open
   * makes the first round the breaker's try (one crash re-opens it). Then the serve_start hooks.
   * @returns an exit code when the serve ends before its first round.
   */
  private async startUp(): Promise<number | undefined> {
    const { cfg, deps, paths, episodes } = this;
    await endOrphans(this.s);
    const startWrites = await this.disk.write('close interrupted rounds', () => {
      recoverInterrupted(this.s);
      episodes.clear('transient_stop', {});
    });
    if (!startWrites) return this.stopBySignal();
    if (existsSync(paths.agentDoneFile)) rmSync(paths.agentDoneFile, { force: true });
    const openBreaker = episodes.get('crash_loop');
    if (openBreaker)
      this.policy.breakerCooldownS = typeof openBreaker.facts['cooldown_s'] === 'number' ? openBreaker.facts['cooldown_s'] : 0;

    const next = this.nextRound();
    const { maxRounds, adapter } = this;
    this.events.emit('serve_started', {
      pid: deps.pid,
      version: VERSION,
      agent: adapter.name,
      work_dir: cfg.runtime.work_dir,
      config_file: cfg.source,
      max_rounds: maxRounds || null,
      next_round: next,
    });
    deps.log(
      'notice',
      `serving ${cfg.project}: agent ${adapter.name}, work dir ${cfg.runtime.work_dir}, next round ${next}${maxRounds ? `, max ${maxRounds} round(s)` : ''}`,
    );

    if (this.hooks.of('serve_start').length) {
      const stop = await this.hooks.serveStart(next, roundPhase(cfg, deps.phase, next)?.name, this.previousRound());
      if (stop) return this.hookStop(stop);
    }
    // Started (its serve_start hooks passed): what stopped an earlier serve at its start is over.
    if (!(await this.disk.write('clear config alarm', () => episodes.clear('config_broken', {})))) return this.stopBySignal();
    return undefined;
  }

  /** Stop triggers, checked between rounds only: a round is never cut short by them. */
  private stopTrigger(): number | undefined {
    const { deps, paths, events, maxRounds } = this;
    if (deps.stopSignal.aborted) return this.stopBySignal();
    const stop = readStopRequest(paths);
    if (stop) {
      events.emit('stop_file_detected', { path: paths.stopFile, requested_at: stop.requested_at ?? null });
      clearStopRequest(paths);
      return this.finish('stop_requested', EXIT.OK);
    }
    if (existsSync(paths.agentDoneFile)) {
      const reason = readFileSync(paths.agentDoneFile, 'utf8').trim().slice(0, 200);
      events.emit('agent_self_terminated', { reason });
      rmSync(paths.agentDoneFile, { force: true });
      return this.finish('agent_done', EXIT.OK);
    }
    if (maxRounds > 0 && this.roundsRun >= maxRounds) {
      events.emit('max_rounds_reached', { max_rounds: maxRounds, rounds_run: this.roundsRun });
      // A one-shot run whose last round was refused tells its caller so (EX_NOPERM).
      return this.finish('max_rounds', this.last?.verdict.class === 'auth' ? EXIT.NOPERM : EXIT.OK);
    }
    const restart = this.unit.takeRestart();
    if (restart) {
      events.emit('restart_marker_consumed', {
        nonce: restart.nonce,
        requested_at: restart.requested_at,
        requested_by: restart.requested_by ?? null,
      });
      return this.finish('restart_marker', EXIT.TEMPFAIL);
    }
    return undefined;
  }

  /** One turn: the pre_round hooks, the round, its post_round hooks, then the policy's decision. */
  private async turn(): Promise<Step> {
    const number = this.nextRound();
    this.show('round', { round: number });
    const pre = await this.preRound(number);
    if (pre.kind === 'exit') return { exit: pre.code };
    if (pre.kind === 'skip') return 'next';
    await this.clearIndexLock(number);
    const result = await this.runOne(number, pre.prompt);
    if (typeof result === 'number') return { exit: result };
    if (!result) return 'next';
    this.roundsRun += 1;
    this.last = result;
    this.deps.log(result.verdict.class === 'ok' ? 'info' : 'warning', `round ${result.round} ended: ${result.verdict.summary}`);
    if (result.hookStop) return { exit: await this.hookStop(result.hookStop) };
    if (this.hooks.of('post_round').length && !this.deps.killSignal.aborted) {
      const stop = await this.hooks.postRound(result);
      if (stop) return { exit: await this.hookStop(stop) };
    }
    return this.afterRound(result);
  }

  /**
   * The pre_round hooks, given the assembled prompt: they may replace it, skip the round
   * (wait `restart_delay_s`, at least 1 s; no number, no row) or stop the serve.
   */
  private async preRound(number: number): Promise<{ kind: 'run'; prompt?: string } | { kind: 'skip' } | { kind: 'exit'; code: number }> {
    const { cfg, deps } = this;
    if (!this.hooks.of('pre_round').length) return { kind: 'run' };
    const phase = roundPhase(cfg, deps.phase, number);
    let base: string | undefined;
    try {
      base = assemblePromptFiles(promptSpec(cfg, phase)).text;
    } catch (e) {
      // A prompt file gone: no hook runs, the round records it as its config failure.
      if (!isAgentRunnerError(e) || e.code !== 'ERR_AR_CONFIG_SEMANTIC') throw e;
    }
    if (base === undefined) return { kind: 'run' };
    const pre = await this.hooks.preRound(number, phase?.name, this.previousRound(), base);
    if (pre.kind === 'stop') return { kind: 'exit', code: await this.hookStop(pre.stop) };
    if (pre.kind === 'skip') {
      const delayMs = Math.max(1, cfg.runtime.restart_delay_s) * 1000;
      deps.log('warning', `no round now: hook ${pre.hook} failed (on_failure skip_round); next try in ${delayMs / 1000} s`);
      this.show('waiting', { until: iso(this.now() + delayMs) });
      await sleep(delayMs, deps.stopSignal);
      return { kind: 'skip' };
    }
    return { kind: 'run', prompt: pre.prompt ?? base };
  }

  /**
   * A git killed mid-command left the work tree's index locked: removed before the round,
   * since no git of the runner's runs between rounds (see git-lock.ts).
   */
  private async clearIndexLock(round: number): Promise<void> {
    const { cfg, deps } = this;
    const workDir = cfg.runtime.work_dir;
    if (this.indexLock === undefined) {
      try {
        this.indexLock = (await gitPath(workDir, 'index.lock', { env: deps.env })) ?? null;
      } catch (e) {
        deps.log('warning', `round ${round}: where git keeps its index lock is unknown (${(e as Error).message}); asked again next round`);
        return;
      }
    }
    if (this.indexLock === null) return;
    let check: IndexLockCheck;
    try {
      check = clearStaleIndexLock(this.indexLock, workDir, {
        nowMs: this.now(),
        selfPid: deps.pid,
        ...(deps.procRoot ? { procRoot: deps.procRoot } : {}),
      });
    } catch (e) {
      deps.log('warning', `round ${round}: the stale git lock ${this.indexLock} cannot be removed: ${(e as Error).message}`);
      return;
    }
    if (check.state === 'removed') {
      this.events.emit('git_index_lock_removed', { path: this.indexLock, age_s: Math.round(check.ageMs / 100) / 10 });
      deps.log(
        'warning',
        `round ${round}: removed ${this.indexLock}, left ${Math.round(check.ageMs / 1000)} s ago by a git that no longer runs`,
      );
    } else if (check.state === 'held' && check.pid !== this.lockHolder) {
      deps.log('notice', `round ${round}: ${this.indexLock} is held by ${check.comm} (pid ${check.pid}) working in the tree; left alone`);
    }
    this.lockHolder = check.state === 'held' ? check.pid : undefined;
  }

  /**
   * Runs the round, then its deferred writes. Only the writes before the agent is spawned
   * throw for a full disk (the later ones are deferred): it waits, closes the row if one was
   * opened and returns undefined (try again).
   * @returns the round, undefined to try again, or an exit code (SIGTERM during a disk wait).
   */
  private async runOne(number: number, prompt: string | undefined): Promise<RoundResult | number | undefined> {
    const { cfg, deps, ledger, disk, identity, hooks } = this;
    const deferred: DeferredWrite[] = [];
    let last: LastOutcome | undefined;
    const l = this.last;
    if (l)
      last = {
        round: l.round,
        class: l.verdict.class,
        exitCode: l.outcome.exitCode,
        signal: l.outcome.signal,
        durationMs: l.outcome.durationMs,
        summary: l.verdict.summary,
        ...(l.vcs?.sha ? { vcs: `${l.vcs.action} ${l.vcs.sha}` } : {}),
      };
    let result: RoundResult;
    try {
      result = await runRound(
        {
          cfg,
          paths: this.paths,
          ledger: roundLedger(ledger, deferred),
          events: this.events,
          adapter: this.adapter,
          runner: identity,
          env: deps.env,
          killSignal: deps.killSignal,
          now: this.now,
          log: deps.log,
          kill: deps.kill,
          ...(deps.phase !== undefined ? { phase: deps.phase } : {}),
          ...(prompt !== undefined ? { prompt } : {}),
          hookContext: hooks.context,
          ...(hooks.of('dirty_tree').length
            ? { dirtyTree: (o: HookRoundOutcome, ph: string | undefined, files: string[]) => hooks.dirtyTree(o, ph, files) }
            : {}),
        },
        last,
      );
    } catch (e) {
      if (!isNoSpace(e)) throw e;
      deps.log('err', `round ${number} could not start: the file system is full`);
      if (!(await disk.stall('start round'))) return undefined;
      await disk.write('close round', () => {
        for (const r of ledger.runner.runningRounds())
          if (r.runnerNonce === identity.nonce) ledger.runner.markInterrupted(r.round, 'disk_full');
      });
      return undefined;
    }
    for (const w of deferred) if (!(await disk.write(w.what, w.run))) return this.stopBySignal();
    return result;
  }

  /** A transient class starts or continues its episode; an ok round ends it with its downtime. */
  private trackTransient(result: RoundResult): void {
    const cls = result.verdict.class;
    if (TRANSIENT.has(cls)) {
      this.transient = { sinceMs: this.transient?.sinceMs ?? this.now(), class: cls, rounds: (this.transient?.rounds ?? 0) + 1 };
      const status = result.verdict.evidence.find((e) => typeof e.status === 'number')?.status;
      this.events.emit(
        'transient_error_detected',
        {
          class: cls,
          evidence: redactText(result.verdict.summary).slice(0, 500),
          ...(typeof status === 'number' ? { http_status: status } : {}),
          ...(result.verdict.reset_at_ms !== undefined ? { reset_at: iso(result.verdict.reset_at_ms) } : {}),
        },
        { round: result.round },
      );
    } else if (cls === 'ok' && this.transient) {
      this.events.emit(
        'transient_error_recovered',
        {
          class: this.transient.class,
          downtime_s: Math.round((this.now() - this.transient.sinceMs) / 1000),
          failed_rounds: this.transient.rounds,
        },
        { round: result.round },
      );
      this.transient = undefined;
    }
  }

  /**
   * An ok round's recoveries: each open episode it ends is told once, to whoever got its alarm.
   * @returns false when the alarms could not be cleared (a full disk; the next turn retries).
   */
  private async recover(result: RoundResult, authSinceMs: number | undefined): Promise<boolean> {
    const { episodes, events, now } = this;
    const breaker = episodes.get('crash_loop');
    const auth = episodes.get('auth_paused');
    // The outage began when the episode was raised, maybe by a serve before this one.
    const pausedS = Math.round((now() - (auth?.raisedAtMs ?? authSinceMs ?? now())) / 1000);
    const told = await this.disk.write('clear alarms', () => {
      if (breaker) episodes.clear('crash_loop', { round: result.round });
      if (auth) episodes.clear('auth_paused', { paused_s: pausedS });
    });
    if (!told) return false;
    if (breaker) {
      events.emit(
        'crash_loop_recovered',
        { open_s: Math.round((now() - breaker.raisedAtMs) / 1000), failed_tries: this.failedTries },
        { round: result.round },
      );
      this.deps.log('notice', `round ${result.round} succeeded: the crash-loop breaker is closed, rounds run again`);
      this.failedTries = 0;
    }
    if (auth || this.authProbes > 0) {
      events.emit('auth_recovered', { paused_s: pausedS, probes: Math.max(0, this.authProbes - 1) }, { round: result.round });
      this.authProbes = 0;
    }
    return true;
  }

  /** The policy's decision on the round: recoveries, the crash-loop breaker, a stop, or the wait. */
  private async afterRound(result: RoundResult): Promise<Step> {
    const { cfg, deps, events, maxRounds } = this;
    const cls = result.verdict.class;
    const lastRound = maxRounds > 0 && this.roundsRun >= maxRounds;
    this.trackTransient(result);
    const authSince = this.policy.authSinceMs;
    const decision = decide(cfg.runtime, this.policy, result.verdict, result.outcome.durationMs, this.now(), deps.random);
    if (cls === 'ok' && !(await this.recover(result, authSince))) return 'next';

    // Stopping: the round was the last one; its verdict needs no back-off or alarm.
    if (deps.stopSignal.aborted) return 'next';
    if (decision.reason === 'crash_loop') return this.crashLoop(decision, result, lastRound);
    if (decision.action === 'stop') {
      events.emit('agent_self_terminated', { reason: `transient_error: ${result.verdict.summary}`.slice(0, 200) });
      await this.disk.write('raise transient-stop alarm', () =>
        this.episodes.raise('transient_stop', { class: cls, summary: redactText(result.verdict.summary).slice(0, 500) }),
      );
      return { exit: this.finish('transient_error', EXIT.OK) };
    }
    // The last round of a one-shot run: no pause, back-off or alarm; the exit code tells.
    if (lastRound) {
      if (cls === 'auth')
        deps.log('err', `authentication failed: ${redactText(result.verdict.summary).slice(0, 300)}. ${this.adapter.authHint}`);
      return 'next';
    }
    await this.wait(decision, result);
    return 'next';
  }

  /** The crash-loop breaker opened (or stays open): its alarm, then the cool-down — or exit 69 without one. */
  private async crashLoop(
    decision: Extract<Decision, { action: 'cool_down' | 'stop' }>,
    result: RoundResult,
    lastRound: boolean,
  ): Promise<Step> {
    const { cfg, deps } = this;
    const tail = redactText(tailLines(result.logFile, 40).join('\n')).slice(-4000);
    const cooling = decision.action === 'cool_down' && !lastRound;
    if (cooling && this.episodes.get('crash_loop')) this.failedTries += 1;
    const retry = cooling ? { retry_at: iso(decision.untilMs), cooldown_s: decision.cooldownS } : {};
    const facts = {
      consecutive: decision.consecutive,
      last_exit_code: result.outcome.exitCode,
      last_signal: result.outcome.signal,
      tail,
      ...retry,
    };
    this.events.emit(
      'crash_loop',
      {
        consecutive: decision.consecutive,
        threshold: cfg.runtime.crash_loop.threshold,
        last_exit_code: result.outcome.exitCode,
        tail,
        ...retry,
      },
      { round: result.round },
    );
    if (!(await this.disk.write('raise crash-loop alarm', () => this.episodes.raise('crash_loop', facts)))) return 'next';
    if (!cooling) {
      deps.log(
        'err',
        `crash loop: ${decision.consecutive} consecutive short failures of the agent; stopping (exit 69, not restarted): fix the cause, then agent-runner start`,
      );
      return { exit: this.finish('crash_loop', EXIT.UNAVAILABLE) };
    }
    deps.log(
      'err',
      `crash loop: the agent failed ${decision.consecutive} round(s) quickly; no round until ${iso(decision.untilMs)} (cool-down ${decision.cooldownS} s), then one round tries again`,
    );
    this.show('paused', pausedUntil('crash_loop', decision.untilMs));
    await sleep(decision.delayMs, deps.stopSignal);
    return 'next';
  }

  /** The decision's wait (with its event and alarm); SIGTERM ends it. */
  private async wait(decision: Decision, result: RoundResult): Promise<void> {
    if (decision.action !== 'continue') return;
    const { cfg, deps, events, adapter } = this;
    const cls = result.verdict.class;
    const untilMs = decision.untilMs ?? this.now() + decision.delayMs;
    if (decision.reason === 'auth') {
      this.authProbes += 1;
      if (this.authProbes === 1) {
        const evidence = redactText(result.verdict.summary).slice(0, 500);
        events.emit(
          'auth_paused',
          { hint: adapter.authHint.slice(0, 500), evidence, probe_interval_s: cfg.runtime.auth.probe_interval_s },
          { round: result.round },
        );
        deps.log('err', `authentication failed; pausing and probing every ${cfg.runtime.auth.probe_interval_s}s. ${adapter.authHint}`);
        const facts = {
          agent: adapter.name,
          evidence,
          hint: adapter.authHint.slice(0, 500),
          probe_interval_s: cfg.runtime.auth.probe_interval_s,
        };
        if (!(await this.disk.write('raise auth alarm', () => this.episodes.raise('auth_paused', facts)))) return;
      }
      this.show('paused', pausedUntil('auth', untilMs));
    } else if (decision.reason === 'transient' || decision.reason === 'failure') {
      events.emit(
        'backoff_started',
        {
          class: cls,
          delay_s: Math.round(decision.delayMs / 100) / 10,
          until: iso(untilMs),
          attempt: decision.reason === 'transient' ? this.policy.transient : this.policy.shortFailures,
        },
        { round: result.round },
      );
      deps.log('warning', `backing off ${Math.round(decision.delayMs / 1000)}s after ${cls} (until ${iso(untilMs)})`);
      if (cls === 'rate_limit' && decision.untilMs !== undefined) {
        const throttle = {
          account: adapter.name,
          class: cls,
          untilMs: decision.untilMs,
          ...(result.verdict.reset_at_ms !== undefined ? { resetAtMs: result.verdict.reset_at_ms } : {}),
          detail: { round: result.round, summary: result.verdict.summary },
        };
        if (!(await this.disk.write('record throttle', () => this.ledger.runner.recordThrottle(throttle)))) return;
        this.show('paused', pausedUntil('throttle', untilMs));
      } else {
        this.show('waiting', { until: iso(untilMs) });
      }
    } else {
      this.show('waiting', { until: iso(untilMs) });
    }
    await sleep(decision.delayMs, deps.stopSignal);
  }
}
