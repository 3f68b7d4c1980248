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
import { endOrphanGroup } from './process-group.js';
import { tailLines } from '@agent-runner/core/tail';
import { promptSpec, roundPhase, runRound, type RoundResult } from './round.js';
import type { ServeDeps } from './serve.js';
import { outcomeOf, ServeHooks, type HookStop } from './serve-hooks.js';

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
    const verdict = rec && rec.nonce === r.runnerNonce ? verifyIdentity(rec, s.deps.procRoot ? { procRoot: s.deps.procRoot } : {}).verdict : 'gone';
    const reason = verdict === 'other-boot' ? 'host_rebooted' : verdict === 'recycled' ? 'pid_recycled' : 'process_gone';
    if (s.ledger.runner.markInterrupted(r.round, reason)) {
      s.events.emit('round_interrupted', { previous_pid: r.pid, reason, started_at: new Date(r.startedAtMs).toISOString() }, { round: r.round });
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
      const res = await endOrphanGroup({ pgid: r.agentPgid, starttimeTicks: r.agentStarttimeTicks }, {
        kill: s.deps.kill, graceMs: s.cfg.runtime.kill_grace_s * 1000, ...(s.deps.procRoot ? { procRoot: s.deps.procRoot } : {}),
      });
      if (!res.found) continue;
      s.events.emit('orphan_group_ended', { pgid: r.agentPgid, members: res.members.length, kill_sent: res.killSent, remaining: res.remaining.length }, { round: r.round });
      s.deps.log('warning', `round ${r.round}: its agent (process group ${r.agentPgid}, ${res.members.length} process(es)) outlived the previous serve; ended it${res.remaining.length ? `, ${res.remaining.length} still alive` : ''}`);
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
    const j = probeUnit(s.paths, 'watchdog', { expected: false, staleAfterMs: staleMs, nowMs, installedVersion: undefined, ...(s.deps.procRoot ? { procRoot: s.deps.procRoot } : {}) });
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
export async function serveLoop(s: ServeSession): Promise<number> {
  const { cfg, deps, paths, events, ledger, unit, now } = s;
  const startedAtMs = unit.startedAtMs;
  const maxRounds = deps.maxRounds ?? cfg.runtime.max_rounds;
  const adapter = adapterFor(cfg);

  let detail: RunnerDetail = {};
  const show: ShowActivity = (state, d = {}) => {
    detail = d;
    unit.setState(state, true);
  };
  const judge = watchdogJudge(s);
  unit.start({
    heartbeatMs: cfg.runtime.heartbeat_interval_s * 1000,
    state: 'starting',
    detail: () => ({ ...detail }),
    status: `serving ${cfg.project}`,
    onTick: judge,
    ...(deps.collectGarbage ? { collectGarbage: deps.collectGarbage } : {}),
  });

  const episodes = new Episodes(ledger, cfg.project, now);
  const disk = new DiskGuard({ paths, minFreeBytes: cfg.runtime.disk_min_free_mb * 1048576, events, episodes, now, stopSignal: deps.stopSignal, log: deps.log, show });
  const gates = { cfg, paths, ledger, events, episodes, disk, account: adapter.name, now, stopSignal: deps.stopSignal, log: deps.log, show };
  const identity: RunnerIdentity = { pid: deps.pid, bootId: unit.record.boot_id, starttimeTicks: unit.record.starttime_ticks, nonce: unit.record.nonce };

  let roundsRun = 0;
  const finish = (reason: ExitReason, code: number, signal?: string, why?: string): number => {
    // A stop request present at a stop by signal or request has been honoured (`agent-runner
    // stop` writes it and signals): leaving it would stop the next start at once.
    if (reason === 'signal' || reason === 'stop_requested') clearStopRequest(paths);
    events.emit('serve_stopped', { reason, exit_code: code, rounds_run: roundsRun, ...(signal ? { signal } : {}), uptime_s: Math.round((now() - startedAtMs) / 100) / 10 });
    deps.log('notice', `stopped: ${reason} (exit ${code}, ${roundsRun} round(s))`);
    return s.close(code, reason, signal ? `${signal}` : why);
  };
  /**
   * SIGTERM: an operator's stop (0), unless the watchdog asked for this restart and nobody
   * asked for a stop (75: its T2 follows its marker, and a heal must not look like a stop).
   */
  const stopBySignal = (): number => {
    const signal = String(deps.stopSignal.reason ?? 'SIGTERM');
    if (readStopRequest(paths)) return finish('stop_requested', EXIT.OK, signal);
    const code = unit.signalExitCode();
    return finish(code === EXIT.TEMPFAIL ? 'restart_marker' : 'signal', code, signal);
  };

  // The start is good: what stopped the previous serve is over, and a crash loop still open
  // makes the first round the breaker's try (one crash re-opens it).
  await endOrphans(s);
  const startWrites = await disk.write('close interrupted rounds', () => {
    recoverInterrupted(s);
    episodes.clear('transient_stop', {});
  });
  if (!startWrites) return stopBySignal();
  if (existsSync(paths.agentDoneFile)) rmSync(paths.agentDoneFile, { force: true });
  const policy = initialPolicyState();
  const openBreaker = episodes.get('crash_loop');
  if (openBreaker) policy.breakerCooldownS = typeof openBreaker.facts['cooldown_s'] === 'number' ? openBreaker.facts['cooldown_s'] : 0;

  const nextRound = (): number => (ledger.runner.lastRounds(1)[0]?.round ?? 0) + 1;
  events.emit('serve_started', { pid: deps.pid, version: VERSION, agent: adapter.name, work_dir: cfg.runtime.work_dir, config_file: cfg.source, max_rounds: maxRounds || null, next_round: nextRound() });
  deps.log('notice', `serving ${cfg.project}: agent ${adapter.name}, work dir ${cfg.runtime.work_dir}, next round ${nextRound()}${maxRounds ? `, max ${maxRounds} round(s)` : ''}`);

  const hooks = new ServeHooks({ cfg, paths, events, env: deps.env, presetEnv: adapter.preset.env, kill: deps.kill, log: deps.log });
  let fromLedger: HookRoundOutcome | null | undefined;
  let last: RoundResult | undefined;
  /** The last finished round for a hook's input: this serve's, else the ledger's newest. */
  const previousRound = (): HookRoundOutcome | null => {
    if (last) return outcomeOf(last);
    if (fromLedger === undefined) {
      const row = ledger.runner.lastRounds(1)[0];
      fromLedger = row && row.status !== 'running' ? roundOutcome(row, paths.eventsDir) : null;
    }
    return fromLedger;
  };
  /** A hook failed with `on_failure = "stop"`: exit 78 with the `config_broken` alarm naming it, like a failed start-up check. */
  const hookStop = async (stop: HookStop): Promise<number> => {
    const check = `hook ${stop.hook}`;
    const tail = stop.stderrTail.trim();
    const detail = `${stop.message}${tail ? `\n${tail}` : ''}`;
    deps.log('err', `${stop.event === 'serve_start' ? 'STARTUP FAIL' : 'HOOK FAIL'} (${check}): ${detail}`);
    events.emit('config_broken', { check, detail: redactText(detail).slice(0, 2000) });
    await disk.write('raise config alarm', () => episodes.raise('config_broken', { check, detail: redactText(detail).slice(0, 1000) }));
    return finish('config_broken', EXIT.CONFIG, undefined, `${check}: ${stop.message}`);
  };

  if (hooks.of('serve_start').length) {
    const next = nextRound();
    const stop = await hooks.serveStart(next, roundPhase(cfg, deps.phase, next)?.name, previousRound());
    if (stop) return hookStop(stop);
  }
  // Started (its serve_start hooks passed): what stopped an earlier serve at its start is over.
  if (!(await disk.write('clear config alarm', () => episodes.clear('config_broken', {})))) return stopBySignal();

  let authProbes = 0;
  let failedTries = 0;
  let firstTransientAtMs: number | undefined;
  let transientClass = '';
  let transientRounds = 0;
  for (;;) {
    // Stop triggers, checked between rounds only: a round is never cut short by them.
    if (deps.stopSignal.aborted) return stopBySignal();
    const stop = readStopRequest(paths);
    if (stop) {
      events.emit('stop_file_detected', { path: paths.stopFile, requested_at: stop.requested_at ?? null });
      clearStopRequest(paths);
      return finish('stop_requested', EXIT.OK);
    }
    if (existsSync(paths.agentDoneFile)) {
      const reason = readFileSync(paths.agentDoneFile, 'utf8').trim().slice(0, 200);
      events.emit('agent_self_terminated', { reason });
      rmSync(paths.agentDoneFile, { force: true });
      return finish('agent_done', EXIT.OK);
    }
    if (maxRounds > 0 && roundsRun >= maxRounds) {
      events.emit('max_rounds_reached', { max_rounds: maxRounds, rounds_run: roundsRun });
      // A one-shot run whose last round was refused tells its caller so (EX_NOPERM).
      return finish('max_rounds', last?.verdict.class === 'auth' ? EXIT.NOPERM : EXIT.OK);
    }
    const restart = unit.takeRestart();
    if (restart) {
      events.emit('restart_marker_consumed', { nonce: restart.nonce, requested_at: restart.requested_at, requested_by: restart.requested_by ?? null });
      return finish('restart_marker', EXIT.TEMPFAIL);
    }

    if (await holdBeforeRound(gates)) continue;

    const number = nextRound();
    show('round', { round: number });
    const lastOutcome: LastOutcome | undefined = last && { round: last.round, class: last.verdict.class, exitCode: last.outcome.exitCode, signal: last.outcome.signal, durationMs: last.outcome.durationMs, summary: last.verdict.summary, ...(last.vcs?.sha ? { vcs: `${last.vcs.action} ${last.vcs.sha}` } : {}) };
    let hookPrompt: string | undefined;
    if (hooks.of('pre_round').length) {
      const phase = roundPhase(cfg, deps.phase, number);
      let base: string | undefined;
      try {
        base = assemblePromptFiles(promptSpec(cfg, phase)).text;
      } catch (e) {
        // A prompt file gone: no hook runs, the round records it as its config failure.
        if (!isAgentRunnerError(e) || e.code !== 'ERR_AR_CONFIG_SEMANTIC') throw e;
      }
      if (base !== undefined) {
        const pre = await hooks.preRound(number, phase?.name, previousRound(), base);
        if (pre.kind === 'stop') return hookStop(pre.stop);
        if (pre.kind === 'skip') {
          // No round now (no number, no row): wait, then the stop triggers and gates again.
          const delayMs = Math.max(1, cfg.runtime.restart_delay_s) * 1000;
          deps.log('warning', `no round now: hook ${pre.hook} failed (on_failure skip_round); next try in ${delayMs / 1000} s`);
          show('waiting', { until: iso(now() + delayMs) });
          await sleep(delayMs, deps.stopSignal);
          continue;
        }
        hookPrompt = pre.prompt ?? base;
      }
    }
    const deferred: DeferredWrite[] = [];
    let result: RoundResult;
    try {
      result = await runRound({
        cfg, paths, ledger: roundLedger(ledger, deferred), events, adapter, runner: identity, env: deps.env, killSignal: deps.killSignal, now, log: deps.log, kill: deps.kill,
        ...(deps.phase !== undefined ? { phase: deps.phase } : {}),
        ...(hookPrompt !== undefined ? { prompt: hookPrompt } : {}),
        hookContext: hooks.context,
        ...(hooks.of('dirty_tree').length ? { dirtyTree: (o: HookRoundOutcome, ph: string | undefined, files: string[]) => hooks.dirtyTree(o, ph, files) } : {}),
      }, lastOutcome);
    } catch (e) {
      if (!isNoSpace(e)) throw e;
      // Only the writes before the agent is spawned throw for a full disk (the later ones are
      // deferred): wait, close the row if one was opened, and try again.
      deps.log('err', `round ${number} could not start: the file system is full`);
      if (!(await disk.stall('start round'))) continue;
      await disk.write('close round', () => {
        for (const r of ledger.runner.runningRounds()) if (r.runnerNonce === identity.nonce) ledger.runner.markInterrupted(r.round, 'disk_full');
      });
      continue;
    }
    for (const w of deferred) if (!(await disk.write(w.what, w.run))) return stopBySignal();
    roundsRun += 1;
    last = result;
    deps.log(result.verdict.class === 'ok' ? 'info' : 'warning', `round ${result.round} ended: ${result.verdict.summary}`);
    if (result.hookStop) return hookStop(result.hookStop);
    if (hooks.of('post_round').length && !deps.killSignal.aborted) {
      const stop = await hooks.postRound(result);
      if (stop) return hookStop(stop);
    }

    const cls = result.verdict.class;
    const lastRound = maxRounds > 0 && roundsRun >= maxRounds;
    if (TRANSIENT.has(cls)) {
      firstTransientAtMs ??= now();
      transientClass = cls;
      transientRounds += 1;
      const status = result.verdict.evidence.find((e) => typeof e.status === 'number')?.status;
      events.emit('transient_error_detected', {
        class: cls,
        evidence: redactText(result.verdict.summary).slice(0, 500),
        ...(typeof status === 'number' ? { http_status: status } : {}),
        ...(result.verdict.reset_at_ms !== undefined ? { reset_at: iso(result.verdict.reset_at_ms) } : {}),
      }, { round: result.round });
    } else if (cls === 'ok' && firstTransientAtMs !== undefined) {
      events.emit('transient_error_recovered', { class: transientClass, downtime_s: Math.round((now() - firstTransientAtMs) / 1000), failed_rounds: transientRounds }, { round: result.round });
      firstTransientAtMs = undefined;
      transientRounds = 0;
    }

    const authSince = policy.authSinceMs;
    const decision = decide(cfg.runtime, policy, result.verdict, result.outcome.durationMs, now(), deps.random);
    if (cls === 'ok') {
      // Recoveries: each open episode this round ends is told once, to whoever got its alarm.
      const breaker = episodes.get('crash_loop');
      const auth = episodes.get('auth_paused');
      // The outage began when the episode was raised, maybe by a serve before this one.
      const pausedS = Math.round((now() - (auth?.raisedAtMs ?? authSince ?? now())) / 1000);
      const told = await disk.write('clear alarms', () => {
        if (breaker) episodes.clear('crash_loop', { round: result.round });
        if (auth) episodes.clear('auth_paused', { paused_s: pausedS });
      });
      if (!told) continue;
      if (breaker) {
        events.emit('crash_loop_recovered', { open_s: Math.round((now() - breaker.raisedAtMs) / 1000), failed_tries: failedTries }, { round: result.round });
        deps.log('notice', `round ${result.round} succeeded: the crash-loop breaker is closed, rounds run again`);
        failedTries = 0;
      }
      if (auth || authProbes > 0) {
        events.emit('auth_recovered', { paused_s: pausedS, probes: Math.max(0, authProbes - 1) }, { round: result.round });
        authProbes = 0;
      }
    }

    // Stopping: the round was the last one; its verdict needs no back-off or alarm.
    if (deps.stopSignal.aborted) continue;
    if (decision.reason === 'crash_loop') {
      const tail = redactText(tailLines(result.logFile, 40).join('\n')).slice(-4000);
      const cooling = decision.action === 'cool_down' && !lastRound;
      if (cooling && episodes.get('crash_loop')) failedTries += 1;
      const facts = {
        consecutive: decision.consecutive, last_exit_code: result.outcome.exitCode, last_signal: result.outcome.signal, tail,
        ...(cooling ? { retry_at: iso(decision.untilMs), cooldown_s: decision.cooldownS } : {}),
      };
      events.emit('crash_loop', { consecutive: decision.consecutive, threshold: cfg.runtime.crash_loop.threshold, last_exit_code: result.outcome.exitCode, tail, ...(cooling ? { retry_at: iso(decision.untilMs), cooldown_s: decision.cooldownS } : {}) }, { round: result.round });
      if (!(await disk.write('raise crash-loop alarm', () => episodes.raise('crash_loop', facts)))) continue;
      if (!cooling) {
        deps.log('err', `crash loop: ${decision.consecutive} consecutive short failures of the agent; stopping (exit 69, not restarted): fix the cause, then agent-runner start`);
        return finish('crash_loop', EXIT.UNAVAILABLE);
      }
      deps.log('err', `crash loop: the agent failed ${decision.consecutive} round(s) quickly; no round until ${iso(decision.untilMs)} (cool-down ${decision.cooldownS} s), then one round tries again`);
      show('paused', pausedUntil('crash_loop', decision.untilMs));
      await sleep(decision.delayMs, deps.stopSignal);
      continue;
    }
    if (decision.action === 'stop') {
      events.emit('agent_self_terminated', { reason: `transient_error: ${result.verdict.summary}`.slice(0, 200) });
      await disk.write('raise transient-stop alarm', () => episodes.raise('transient_stop', { class: cls, summary: redactText(result.verdict.summary).slice(0, 500) }));
      return finish('transient_error', EXIT.OK);
    }
    // The last round of a one-shot run: no pause, back-off or alarm; the exit code tells.
    if (lastRound) {
      if (cls === 'auth') deps.log('err', `authentication failed: ${redactText(result.verdict.summary).slice(0, 300)}. ${adapter.authHint}`);
      continue;
    }
    if (!(await afterRound(decision, result))) continue;
  }

  /** The decision's wait (with its event and alarm). @returns false when SIGTERM ended it. */
  async function afterRound(decision: Extract<Decision, { action: 'continue' }>, result: RoundResult): Promise<boolean> {
    const cls = result.verdict.class;
    const untilMs = decision.untilMs ?? now() + decision.delayMs;
    if (decision.reason === 'auth') {
      authProbes += 1;
      if (authProbes === 1) {
        const evidence = redactText(result.verdict.summary).slice(0, 500);
        events.emit('auth_paused', { hint: adapter.authHint.slice(0, 500), evidence, probe_interval_s: cfg.runtime.auth.probe_interval_s }, { round: result.round });
        deps.log('err', `authentication failed; pausing and probing every ${cfg.runtime.auth.probe_interval_s}s. ${adapter.authHint}`);
        const facts = { agent: adapter.name, evidence, hint: adapter.authHint.slice(0, 500), probe_interval_s: cfg.runtime.auth.probe_interval_s };
        if (!(await disk.write('raise auth alarm', () => episodes.raise('auth_paused', facts)))) return false;
      }
      show('paused', pausedUntil('auth', untilMs));
    } else if (decision.reason === 'transient' || decision.reason === 'failure') {
      events.emit('backoff_started', { class: cls, delay_s: Math.round(decision.delayMs / 100) / 10, until: iso(untilMs), attempt: decision.reason === 'transient' ? policy.transient : policy.shortFailures }, { round: result.round });
      deps.log('warning', `backing off ${Math.round(decision.delayMs / 1000)}s after ${cls} (until ${iso(untilMs)})`);
      if (cls === 'rate_limit' && decision.untilMs !== undefined) {
        const throttle = { account: adapter.name, class: cls, untilMs: decision.untilMs, ...(result.verdict.reset_at_ms !== undefined ? { resetAtMs: result.verdict.reset_at_ms } : {}), detail: { round: result.round, summary: result.verdict.summary } };
        if (!(await disk.write('record throttle', () => ledger.runner.recordThrottle(throttle)))) return false;
        show('paused', pausedUntil('throttle', untilMs));
      } else {
        show('waiting', { until: iso(untilMs) });
      }
    } else {
      show('waiting', { until: iso(untilMs) });
    }
    return sleep(decision.delayMs, deps.stopSignal);
  }
}
