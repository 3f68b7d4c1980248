import { existsSync, readFileSync, rmSync } from 'node:fs';
import { configPaths, type AgentRunnerConfig } from '@agent-runner/core/config';
import { AgentRunnerError, EXIT, isAgentRunnerError } from '@agent-runner/core/errors';
import { EventWriter } from '@agent-runner/core/events';
import { createEnrollment, removeEnrollment, verifyIdentity, readEnrollment, writeEnrollment, type EnrollmentRecord } from '@agent-runner/core/identity';
import { openLedger, type Ledger, type RunnerIdentity } from '@agent-runner/core/ledger';
import { readStopRequest, clearStopRequest, requestRestart, takeRestartRequest, writeHeartbeat, removeHeartbeat } from '@agent-runner/core/markers';
import type { ProjectPaths } from '@agent-runner/core/paths';
import { probeUnit } from '@agent-runner/core/health';
import { redactText } from '@agent-runner/core/redact';
import { VERSION } from '@agent-runner/core/version';
import { adapterFor } from './adapters/index.js';
import { startupBattery } from './battery.js';
import { decide, initialPolicyState, TRANSIENT } from './policy.js';
import type { LastOutcome } from './prompt.js';
import { tailLines } from './round-log.js';
import { runRound, type RoundResult } from './round.js';
import { sleep } from '@agent-runner/core/sleep';
import { holdBeforeRound, type GateContext } from './gates.js';
import { idleCollector } from './idle-gc.js';

/** syslog priorities the runner logs with (sd-daemon prefixes under systemd). */
export type LogPriority = 'err' | 'warning' | 'notice' | 'info';

/** What `serve` needs from its process; the bin provides it. */
export interface ServeDeps {
  pid: number;
  /** The runner's environment: the agent inherits it (plus the agent's own variables). */
  env: Record<string, string | undefined>;
  /** Aborted on the first SIGTERM/SIGINT: finish the round, end any wait at once, exit. */
  stopSignal: AbortSignal;
  /** Aborted on a second SIGTERM/SIGINT or SIGQUIT (`agent-runner kill`): end the round's process group now. */
  killSignal: AbortSignal;
  /** Sends a signal (`process.kill`): the round's process group is ended through it. */
  kill: (pid: number, signal: NodeJS.Signals) => void;
  /** One line for the journal / terminal. */
  log: (priority: LogPriority, line: string) => void;
  /** `--max-rounds` (overrides `runtime.max_rounds`; 0 = no limit). */
  maxRounds?: number;
  /** Run every round in this phase instead of rotating (`agent-runner round --phase NAME`). */
  phase?: string;
  /** Wall clock, ms since epoch (default Date.now). */
  now?: () => number;
  /** [0, 1) for back-off jitter (default Math.random). */
  random?: () => number;
  procRoot?: string;
  /**
   * A full garbage collection: node's `gc()`, present when node runs with `--expose-gc` (the
   * units start serve so, see {@link idleCollector}). Run on a heartbeat tick after an idle
   * interval, so an idle serve gives back the heap its busy rounds grew.
   */
  collectGarbage?: () => void;
}

/**
 * Closes rounds a previous serve left `running` as `interrupted`, with an event each. Called
 * after {@link liveRunner} proved no other serve is alive, and before this one enrolls: the
 * old serve's enrollment record (same nonce as the row) tells how it went away.
 */
function recoverInterrupted(paths: ProjectPaths, ledger: Ledger, events: EventWriter, procRoot: string | undefined): void {
  const rec = readEnrollment(paths, 'runner');
  for (const r of ledger.runner.runningRounds()) {
    const verdict = rec && rec.nonce === r.runnerNonce ? verifyIdentity(rec, procRoot ? { procRoot } : {}).verdict : 'gone';
    const reason = verdict === 'other-boot' ? 'host_rebooted' : verdict === 'recycled' ? 'pid_recycled' : 'process_gone';
    ledger.runner.markInterrupted(r.round, reason);
    events.emit('round_interrupted', { previous_pid: r.pid, reason, started_at: new Date(r.startedAtMs).toISOString() }, { round: r.round });
  }
}

/** Another live `serve` of this project, proven by its enrollment record. */
function liveRunner(paths: ProjectPaths, self: number, procRoot: string | undefined): EnrollmentRecord | undefined {
  const rec = readEnrollment(paths, 'runner');
  if (!rec || rec.pid === self) return undefined;
  return verifyIdentity(rec, procRoot ? { procRoot } : {}).verdict === 'same' ? rec : undefined;
}

/**
 * `agent-runner serve`: the round loop. Runs rounds until a stop trigger — the `.agent-done`
 * sentinel, a stop request, `max_rounds`, a signal — each exiting 0 with its own event; a
 * crash loop of the agent itself (exit 69, not restarted); a failed start-up battery
 * (exit 78, not restarted); its restart marker (exit 75, restarted by systemd).
 *
 * Between rounds it sleeps per the policy (restart delay, back-off, auth probe); every
 * sleep ends at once on SIGTERM. A round in progress finishes on the first SIGTERM and is
 * interrupted (process group ended) on the second or on SIGQUIT.
 *
 * @returns the exit code (sysexits).
 */
export async function serve(cfg: AgentRunnerConfig, deps: ServeDeps): Promise<number> {
  const now = deps.now ?? Date.now;
  const startedAtMs = now();
  const paths = configPaths(cfg);
  const events = new EventWriter({ dir: paths.eventsDir, project: cfg.project, unit: 'runner', now });
  const maxRounds = deps.maxRounds ?? cfg.runtime.max_rounds;
  if (deps.phase !== undefined && !cfg.phases.some((p) => p.name === deps.phase)) {
    throw new AgentRunnerError('ERR_AR_USAGE', `unknown phase ${JSON.stringify(deps.phase)}`, {
      expected: cfg.phases.length ? `one of ${cfg.phases.map((p) => p.name).join(', ')}` : 'no --phase: the config has no [phases]',
      found: JSON.stringify(deps.phase),
    });
  }

  const broken = (check: string, detail: string, code?: string): number => {
    deps.log('err', `STARTUP FAIL (${check}): ${detail}`);
    try {
      events.emit('config_broken', { check, detail: redactText(detail).slice(0, 2000), ...(code ? { code } : {}) });
    } catch {
      /* the event store itself may be what is broken */
    }
    return EXIT.CONFIG;
  };

  const failure = await startupBattery(cfg, paths, deps.env);
  if (failure) return broken(failure.check, failure.detail);
  let ledger: Ledger;
  try {
    ledger = openLedger(paths.ledgerPath, { now });
  } catch (e) {
    if (!isAgentRunnerError(e)) throw e;
    return broken('ledger', `${paths.ledgerPath}: ${e.message}`, e.code);
  }

  const other = liveRunner(paths, deps.pid, deps.procRoot);
  if (other) {
    deps.log('err', `another serve of project ${cfg.project} is running (pid ${other.pid}); not starting a second one`);
    ledger.close();
    return EXIT.TEMPFAIL;
  }
  recoverInterrupted(paths, ledger, events, deps.procRoot);
  const enrollment = createEnrollment('runner', deps.pid, { version: VERSION, project: cfg.project, nowMs: startedAtMs, ...(deps.procRoot ? { procRoot: deps.procRoot } : {}) });
  writeEnrollment(paths, enrollment);
  const identity: RunnerIdentity = { pid: deps.pid, bootId: enrollment.boot_id, starttimeTicks: enrollment.starttime_ticks, nonce: enrollment.nonce };

  let state: 'starting' | 'round' | 'waiting' | 'paused' = 'starting';
  const beat = (): void => {
    try {
      writeHeartbeat(paths, 'runner', { nowMs: now(), pid: deps.pid, nonce: enrollment.nonce, state });
    } catch (e) {
      deps.log('warning', `heartbeat not written: ${(e as Error).message}`);
    }
  };
  // Neither watches alone: the runner judges the watchdog (when one has enrolled) on every
  // heartbeat tick and asks for its restart through its marker, at most once per threshold.
  const watchdogStaleMs = Math.max(30_000, 3 * cfg.watchdog.interval_s * 1000);
  let watchdogAskedAtMs = -Infinity;
  const watchWatchdog = (): void => {
    const j = probeUnit(paths, 'watchdog', { expected: false, staleAfterMs: watchdogStaleMs, nowMs: now(), installedVersion: undefined, ...(deps.procRoot ? { procRoot: deps.procRoot } : {}) });
    if (j.verdict !== 'unhealthy' || !j.alive || now() - watchdogAskedAtMs < watchdogStaleMs) return;
    watchdogAskedAtMs = now();
    requestRestart(paths, 'watchdog', { by: 'runner', reason: j.evidence.join('; ').slice(0, 200), nowMs: watchdogAskedAtMs });
    deps.log('warning', `watchdog unhealthy (${j.reasons.join(', ')}); asked for its restart`);
  };
  const collectIfIdle = deps.collectGarbage ? idleCollector(deps.collectGarbage) : undefined;
  const tick = (): void => {
    beat();
    collectIfIdle?.();
    try {
      watchWatchdog();
    } catch (e) {
      deps.log('warning', `watchdog check failed: ${(e as Error).message}`);
    }
  };
  beat();
  const heartbeat = setInterval(tick, cfg.runtime.heartbeat_interval_s * 1000);

  let roundsRun = 0;
  const finish = (reason: string, code: number, signal?: string): number => {
    clearInterval(heartbeat);
    // A stop request present at a clean exit has been honoured (`agent-runner stop` writes it
    // and signals): leaving it would stop the next start at once.
    if (code === EXIT.OK) clearStopRequest(paths);
    events.emit('serve_stopped', { reason, exit_code: code, rounds_run: roundsRun, ...(signal ? { signal } : {}), uptime_s: Math.round((now() - startedAtMs) / 100) / 10 });
    deps.log('notice', `stopped: ${reason} (exit ${code}, ${roundsRun} round(s))`);
    removeHeartbeat(paths, 'runner', enrollment.nonce);
    removeEnrollment(paths, 'runner', enrollment.nonce);
    ledger.close();
    events.close();
    return code;
  };

  try {
    if (existsSync(paths.agentDoneFile)) rmSync(paths.agentDoneFile, { force: true });
    const adapter = adapterFor(cfg);
    const nextRound = (ledger.runner.lastRounds(1)[0]?.round ?? 0) + 1;
    events.emit('serve_started', { pid: deps.pid, version: VERSION, agent: adapter.name, work_dir: cfg.runtime.work_dir, config_file: cfg.source, max_rounds: maxRounds || null, next_round: nextRound });
    deps.log('notice', `serving ${cfg.project}: agent ${adapter.name}, work dir ${cfg.runtime.work_dir}, next round ${nextRound}${maxRounds ? `, max ${maxRounds} round(s)` : ''}`);

    const gateCtx: GateContext = { cfg, paths, ledger, events, account: adapter.name, now, stopSignal: deps.stopSignal, log: deps.log, waiting: (st) => ((state = st), beat()) };

    const policy = initialPolicyState();
    let authProbes = 0;
    let last: RoundResult | undefined;
    let firstTransientAtMs: number | undefined;
    let transientClass = '';
    let transientRounds = 0;
    for (;;) {
      // Stop triggers, checked between rounds only: a round is never cut short by them.
      if (deps.stopSignal.aborted) return finish('signal', EXIT.OK, String(deps.stopSignal.reason ?? 'SIGTERM'));
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
        return finish('max_rounds', EXIT.OK);
      }
      const restart = takeRestartRequest(paths, 'runner', { startedAtMs });
      if (restart) {
        events.emit('restart_marker_consumed', { nonce: restart.nonce, requested_at: restart.requested_at, requested_by: restart.requested_by ?? null });
        return finish('restart_marker', EXIT.TEMPFAIL);
      }

      if (await holdBeforeRound(gateCtx)) continue;

      state = 'round';
      const lastOutcome: LastOutcome | undefined = last && { round: last.round, class: last.verdict.class, exitCode: last.outcome.exitCode, signal: last.outcome.signal, durationMs: last.outcome.durationMs, summary: last.verdict.summary, ...(last.vcs?.sha ? { vcs: `${last.vcs.action} ${last.vcs.sha}` } : {}) };
      const result = await runRound({ cfg, paths, ledger, events, adapter, runner: identity, env: deps.env, killSignal: deps.killSignal, now, log: deps.log, kill: deps.kill, ...(deps.phase !== undefined ? { phase: deps.phase } : {}) }, lastOutcome);
      roundsRun += 1;
      last = result;
      deps.log(result.verdict.class === 'ok' ? 'info' : 'warning', `round ${result.round} ended: ${result.verdict.summary}`);

      // Stopping: the round was the last one; its verdict needs no back-off or notice.
      if (deps.stopSignal.aborted) continue;
      const cls = result.verdict.class;
      if (TRANSIENT.has(cls)) {
        firstTransientAtMs ??= now();
        transientClass = cls;
        transientRounds += 1;
        const status = result.verdict.evidence.find((e) => typeof e.status === 'number')?.status;
        events.emit('transient_error_detected', {
          class: cls,
          evidence: redactText(result.verdict.summary).slice(0, 500),
          ...(typeof status === 'number' ? { http_status: status } : {}),
          ...(result.verdict.reset_at_ms !== undefined ? { reset_at: new Date(result.verdict.reset_at_ms).toISOString() } : {}),
        }, { round: result.round });
      } else if (cls === 'ok' && firstTransientAtMs !== undefined) {
        events.emit('transient_error_recovered', { class: transientClass, downtime_s: Math.round((now() - firstTransientAtMs) / 1000), failed_rounds: transientRounds }, { round: result.round });
        firstTransientAtMs = undefined;
        transientRounds = 0;
      }

      const authSince = policy.authSinceMs;
      const decision = decide(cfg.runtime, policy, result.verdict, result.outcome.durationMs, now(), deps.random);
      if (decision.action === 'stop') {
        if (decision.reason === 'crash_loop') {
          const tail = redactText(tailLines(result.logFile, 40).join('\n')).slice(-4000);
          events.emit('crash_loop', { consecutive: decision.consecutive, threshold: cfg.runtime.crash_loop.threshold, last_exit_code: result.outcome.exitCode, tail }, { round: result.round });
          deps.log('err', `crash loop: ${decision.consecutive} consecutive short failures of the agent; stopping (fix the cause, then start again)`);
          return finish('crash_loop', EXIT.UNAVAILABLE);
        }
        events.emit('agent_self_terminated', { reason: `transient_error: ${result.verdict.summary}`.slice(0, 200) });
        return finish('transient_error', EXIT.OK);
      }
      if (decision.reason === 'auth') {
        authProbes += 1;
        if (authProbes === 1) {
          const evidence = redactText(result.verdict.summary).slice(0, 500);
          events.emit('auth_paused', { hint: adapter.authHint.slice(0, 500), evidence, probe_interval_s: cfg.runtime.auth.probe_interval_s }, { round: result.round });
          ledger.outbox.enqueue({
            idempotencyKey: `auth_paused:${cfg.project}:${policy.authSinceMs ?? now()}`,
            kind: 'auth_paused',
            severity: 'error',
            title: `${cfg.project}: ${adapter.name} authentication failed; runner paused`,
            body: `${evidence}\n\nFix: ${adapter.authHint}\nThe runner probes every ${cfg.runtime.auth.probe_interval_s}s and resumes by itself.`,
          });
          deps.log('err', `authentication failed; pausing and probing every ${cfg.runtime.auth.probe_interval_s}s. ${adapter.authHint}`);
        }
      } else if (cls === 'ok' && authProbes > 0) {
        events.emit('auth_recovered', { paused_s: Math.round((now() - (authSince ?? now())) / 1000), probes: authProbes - 1 }, { round: result.round });
        authProbes = 0;
      }
      if (decision.reason === 'transient' || decision.reason === 'failure') {
        const until = new Date(decision.untilMs ?? now() + decision.delayMs).toISOString();
        events.emit('backoff_started', { class: cls, delay_s: Math.round(decision.delayMs / 100) / 10, until, attempt: decision.reason === 'transient' ? policy.transient : policy.shortFailures }, { round: result.round });
        deps.log('warning', `backing off ${Math.round(decision.delayMs / 1000)}s after ${cls} (until ${until})`);
        if (cls === 'rate_limit' && decision.untilMs !== undefined) {
          ledger.runner.recordThrottle({ account: adapter.name, class: cls, untilMs: decision.untilMs, ...(result.verdict.reset_at_ms !== undefined ? { resetAtMs: result.verdict.reset_at_ms } : {}), detail: { round: result.round, summary: result.verdict.summary } });
        }
      }
      state = 'waiting';
      beat();
      await sleep(decision.delayMs, deps.stopSignal);
    }
  } catch (e) {
    clearInterval(heartbeat);
    throw e;
  }
}
