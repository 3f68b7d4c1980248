import type { AgentRunnerConfig, PhaseConfig } from '@agent-runner/core/config';
import { readEnvFile } from '@agent-runner/core/env-file';
import { isAgentRunnerError } from '@agent-runner/core/errors';
import type { EventKind, EventPayload, EventWriter } from '@agent-runner/core/events';
import type { Ledger, RunnerIdentity } from '@agent-runner/core/ledger';
import type { ProjectPaths } from '@agent-runner/core/paths';
import { redactText, rememberSecretsIn } from '@agent-runner/core/redact';
import type { AgentAdapter, Evidence, ProcessOutcome, Verdict } from './adapters/types.js';
import { agentEnv, spawnAgent } from './agent-process.js';
import type { HookRoundOutcome } from '@agent-runner/core/hooks';
import { applyContext, assemblePromptFiles, type LastOutcome } from './prompt.js';
import { openRoundLog, pruneRoundLogs, type RoundLog } from './round-log.js';
import { outcomeOf, type DirtyTreeDecision, type HookStop } from './serve-hooks.js';
import { superviseRound, type SuperviseEventKind } from './supervise.js';
import { applyDirtyAction, dirtyState, type DirtyActionResult } from './vcs.js';

/** What one round needs from the serve loop. */
export interface RoundDeps {
  cfg: AgentRunnerConfig;
  paths: ProjectPaths;
  ledger: Ledger;
  events: EventWriter;
  adapter: AgentAdapter;
  runner: RunnerIdentity;
  /** Base environment of the agent (the runner's own, secrets from env_file added per round). */
  env: Record<string, string | undefined>;
  /** Aborting interrupts the round: its process group is ended (operator kill). */
  killSignal: AbortSignal;
  now: () => number;
  /** Run this phase instead of the rotation's (`agent-runner round --phase NAME`). */
  phase?: string;
  /** Sends a signal (`process.kill`, from the bin). */
  kill: (pid: number, signal: NodeJS.Signals) => void;
  /** A line for the journal (problems that are not the round's verdict). */
  log: (priority: 'warning' | 'notice', line: string) => void;
  /** The prompt text as `pre_round` hooks left it (before the context block); default: the prompt files. */
  prompt?: string;
  /** The hooks' context fields, shown in the context block. */
  hookContext?: Readonly<Record<string, unknown>>;
  /** The `dirty_tree` hooks: asked when the round left the tree dirty, before `vcs.dirty_action`. */
  dirtyTree?: (outcome: HookRoundOutcome, phase: string | undefined, dirtyFiles: string[]) => Promise<DirtyTreeDecision>;
}

/** How a round went, for the loop's policy and the next round's context. */
export interface RoundResult {
  round: number;
  phase: string | undefined;
  verdict: Verdict;
  outcome: ProcessOutcome;
  vcs?: DirtyActionResult;
  logFile: string;
  /** A `dirty_tree` hook failed with `on_failure = "stop"`: serve stops (exit 78) now that the round is recorded. */
  hookStop?: HookStop;
}

/** The phase of a round: phases rotate by round number, so a restart continues the rotation. */
export function phaseOf(cfg: AgentRunnerConfig, round: number): PhaseConfig | undefined {
  return cfg.phases.length ? cfg.phases[(round - 1) % cfg.phases.length] : undefined;
}

/** The phase round `round` runs in: `forced` (`--phase`) when given, else the rotation's. */
export function roundPhase(cfg: AgentRunnerConfig, forced: string | undefined, round: number): PhaseConfig | undefined {
  return forced !== undefined ? cfg.phases.find((p) => p.name === forced) : phaseOf(cfg, round);
}

function failedVerdict(cls: Verdict['class'], detail: string): Verdict {
  const evidence: Evidence = { source: 'supervisor', detail: redactText(detail).slice(0, 500) };
  return { class: cls, evidence: [evidence], summary: `${cls}: ${evidence.detail ?? ''}` };
}

/** One round as its steps share it: its number, phase, log, clock start and event writer. */
interface OpenRound {
  round: number;
  phase: PhaseConfig | undefined;
  log: RoundLog;
  startedAtMs: number;
  emit: Emit;
}

/** How the agent's run ended: the verdict and what the process did. */
interface AgentRun {
  verdict: Verdict;
  outcome: ProcessOutcome;
}

/**
 * Runs one round end to end: ledger row (running) → prompt → agent in its own process group
 * under the limits → verdict → git hygiene → ledger row (finished) → `round_start` /
 * `round_end` events → round-log retention. Problems of the round itself (a prompt file gone,
 * the agent missing) become the round's verdict (`config`), never an exception, so the loop's
 * policy sees them. A failing disk does not stop the round: the round log drops and counts what
 * it cannot write (`round_log_error`), an event that cannot be appended and a failed retention
 * become journal warnings. Only ledger failures throw.
 */
export async function runRound(deps: RoundDeps, lastOutcome: LastOutcome | undefined): Promise<RoundResult> {
  const r = openRound(deps);
  const run = await runAgent(deps, r, lastOutcome);
  r.log.close();
  const { vcs, hookStop } = await tidyWorkTree(deps, r, run);
  recordRound(deps, r, run);
  try {
    pruneRoundLogs(deps.paths.roundsDir, {
      keep: deps.cfg.runtime.round_log_retention,
      maxTotalBytes: deps.cfg.runtime.round_log_max_bytes,
      protect: [r.log.path],
    });
  } catch (e) {
    deps.log('warning', `round ${r.round}: round log retention failed: ${(e as Error).message}`);
  }
  return { round: r.round, phase: r.phase?.name, ...run, ...(vcs ? { vcs } : {}), logFile: r.log.path, ...(hookStop ? { hookStop } : {}) };
}

/** Allocates the round (its ledger row, running), opens its log and its event writer. */
function openRound(deps: RoundDeps): OpenRound {
  const { cfg, ledger, adapter, paths } = deps;
  const startedAtMs = deps.now();
  // One serve per project writes rounds, so the next number is max + 1 and the phase can be
  // recorded with the row; startRound allocates the same number inside its transaction.
  const expected = (ledger.runner.lastRounds(1)[0]?.round ?? 0) + 1;
  const phase = roundPhase(cfg, deps.phase, expected);
  const round = ledger.runner.startRound({
    runner: deps.runner,
    agent: adapter.name,
    startedAtMs,
    ...(phase ? { phase: phase.name } : {}),
  });
  const log = openRoundLog({ roundsDir: paths.roundsDir, currentLink: paths.currentRoundLog, round, startedAtMs });
  let eventsFailed = false;
  const emit: Emit = (kind, payload) => {
    try {
      deps.events.emit(kind, payload, { round });
    } catch (e) {
      // The narrative must not cost the round: a full disk fails the event store too.
      if (!isAgentRunnerError(e) || e.code !== 'ERR_AR_IO') throw e;
      if (!eventsFailed)
        deps.log(
          'warning',
          `round ${round}: event ${kind} not written: ${e.message}${e.cause instanceof Error ? ` (${e.cause.message})` : ''}`,
        );
      eventsFailed = true;
    }
  };
  return { round, phase, log, startedAtMs, emit };
}

/** The supervision limits of a round in its phase (ms; the config's are seconds). */
function roundLimits(cfg: AgentRunnerConfig, adapter: AgentAdapter, phase: PhaseConfig | undefined) {
  return {
    roundTimeoutMs: (phase?.round_timeout_s ?? cfg.runtime.round_timeout_s) * 1000,
    inactivityTimeoutMs: (phase?.inactivity_timeout_s ?? cfg.runtime.inactivity_timeout_s) * 1000,
    graceAfterResultMs: (phase?.max_grace_after_result_s ?? cfg.runtime.max_grace_after_result_s) * 1000,
    killGraceMs: cfg.runtime.kill_grace_s * 1000,
    ignorePatterns: [...adapter.preset.grace_kill_ignore_patterns, ...cfg.runtime.grace_kill_ignore_patterns].map((p) => new RegExp(p)),
  };
}

/**
 * Prompt → agent in its own process group → supervision → verdict. A round that cannot start
 * (a prompt file vanished, the agent is not installed, the env file is malformed) is a
 * `config` verdict of this round, counted by the policy; any other error throws.
 */
async function runAgent(deps: RoundDeps, r: OpenRound, lastOutcome: LastOutcome | undefined): Promise<AgentRun> {
  const { cfg, paths, adapter } = deps;
  const { round, phase, log, emit, startedAtMs } = r;
  const limits = roundLimits(cfg, adapter, phase);
  let promptBytes = 0;
  try {
    const files = deps.prompt !== undefined ? { text: deps.prompt, sources: [] } : assemblePromptFiles(promptSpec(cfg, phase));
    const prompt = applyContext(files, {
      mode: cfg.runtime.context,
      ...(cfg.runtime.context_file ? { file: cfg.runtime.context_file } : {}),
      round,
      ...(phase ? { phase: phase.name } : {}),
      ...(lastOutcome ? { lastOutcome } : {}),
      ...(deps.hookContext ? { fields: deps.hookContext } : {}),
    });
    promptBytes = prompt.bytes;
    emit('round_start', { phase: phase?.name ?? 'default', prompt_bytes: prompt.bytes, log_file: log.path, agent: adapter.name });
    const fromFile = cfg.agent.env_file ? readEnvFile(cfg.agent.env_file) : {};
    rememberSecretsIn(fromFile, true); // read every round: a rotated key is redacted too
    const env = agentEnv(
      { ...deps.env, ...adapter.preset.env, ...cfg.agent.env, ...fromFile },
      { logDir: paths.logDir, round, project: cfg.project, ...(phase ? { phase: phase.name } : {}) },
    );
    const handle = await spawnAgent({
      argv: cfg.agent.command,
      cwd: cfg.runtime.work_dir,
      env,
      delivery: cfg.agent.prompt_delivery === 'argv' ? { mode: 'argv', template: cfg.agent.prompt_arg_template } : { mode: 'stdin' },
      prompt: prompt.text,
      terminal: cfg.agent.terminal,
    });
    recordAgentGroup(deps, round, handle);
    const supervised = await superviseRound({
      handle,
      classifier: adapter.createClassifier(),
      log,
      limits,
      now: deps.now,
      startedAtMs,
      signal: deps.killSignal,
      kill: deps.kill,
      onEvent: (kind, payload) => {
        try {
          emitSupervisorEvent(emit, kind, payload, startedAtMs, deps.now());
        } catch (e) {
          // An invalid payload is a bug, but supervision goes on: say so in the journal.
          deps.log('warning', `round ${round}: supervisor event ${kind} not written: ${(e as Error).message}`);
        }
      },
    });
    return { verdict: supervised.verdict, outcome: supervised.outcome };
  } catch (e) {
    if (!isAgentRunnerError(e) || !['ERR_AR_CONFIG_SEMANTIC', 'ERR_AR_IO', 'ERR_AR_CONFIG_INVALID'].includes(e.code)) throw e;
    if (promptBytes === 0)
      emit('round_start', { phase: phase?.name ?? 'default', prompt_bytes: 0, log_file: log.path, agent: adapter.name });
    log.write(`agent-runner: round could not start: ${e.message}\n`);
    if (log.error)
      emit('round_log_error', {
        message: redactText(log.error.message).slice(0, 500),
        code: log.error.code ?? null,
        dropped_bytes: log.droppedBytes,
      });
    return {
      verdict: failedVerdict('config', `${e.where() ? `${e.where()}: ` : ''}${e.message}`),
      outcome: { exitCode: null, signal: null, durationMs: deps.now() - startedAtMs, outputBytes: 0 },
    };
  }
}

/**
 * Git hygiene after the round: the `dirty_tree` hooks may decide what happens to a dirty tree
 * (or stop serve), else `vcs.dirty_action`; the result becomes a `vcs_*` event. A failure is
 * a journal warning, never the round's end.
 */
async function tidyWorkTree(deps: RoundDeps, r: OpenRound, run: AgentRun): Promise<{ vcs?: DirtyActionResult; hookStop?: HookStop }> {
  const { cfg, paths } = deps;
  const { round, phase, emit } = r;
  // The runner's own inputs are the operator's, not the agent's work: an uncommitted edit of
  // the config or a prompt must not vanish into a stash.
  const exclude = [
    paths.stateDir,
    paths.logDir,
    cfg.source,
    ...cfg.prompt.files,
    ...cfg.phases.flatMap((p) => p.prompt.files),
    ...cfg.vcs.exclude,
  ];
  let action: 'stash' | 'commit' | 'ignore' | 'handled' = cfg.vcs.dirty_action;
  let decidedBy: string | undefined;
  let hookStop: HookStop | undefined;
  try {
    if (deps.dirtyTree) {
      const state = await dirtyState(cfg.runtime.work_dir, { exclude });
      if (state.dirty) {
        const d = await deps.dirtyTree(
          outcomeOf({ round, phase: phase?.name, ...run, logFile: r.log.path }),
          phase?.name,
          state.files.map((f) => f.path),
        );
        hookStop = d.stop;
        if (d.action) {
          action = d.action;
          decidedBy = d.hook;
          deps.log('notice', `round ${round}: hook ${d.hook ?? '?'} answered ${d.action} for the dirty tree`);
        }
      }
    }
  } catch (e) {
    deps.log('warning', `round ${round}: dirty_tree hooks not run: ${redactText((e as Error).message)}`);
  }
  const stop = hookStop ? { hookStop } : {};
  let vcs: DirtyActionResult | undefined;
  try {
    if (action === 'handled') {
      // The hook dealt with the tree: record what it looks like now.
      const after = await dirtyState(cfg.runtime.work_dir, { exclude });
      vcs = { action: after.dirty ? 'ignore' : 'none', files: after.files };
    } else {
      vcs = await applyDirtyAction(cfg.runtime.work_dir, {
        action,
        exclude,
        round,
        ...(action === 'commit'
          ? { message: cfg.vcs.commit_message.replace(/\{round\}/g, String(round)).replace(/\{phase\}/g, phase?.name ?? 'default') }
          : {}),
      });
    }
    if (vcs.action === 'stash' && vcs.sha) emit('vcs_stashed', { sha: vcs.sha, files: vcs.files.length });
    else if (vcs.action === 'commit' && vcs.sha) emit('vcs_committed', { sha: vcs.sha, files: vcs.files.length });
    else if (vcs.action === 'ignore' && vcs.files.length)
      emit('vcs_dirty_ignored', { files: vcs.files.length, ...(decidedBy ? { policy: `hook ${decidedBy}: ${action}` } : {}) });
  } catch (e) {
    deps.log(
      'warning',
      `round ${round}: git hygiene (${action}${decidedBy ? ` from hook ${decidedBy}` : ''}) failed: ${redactText((e as Error).message)}`,
    );
  }
  // What was done stays in the result even when its event failed: the next prompt's context
  // and the hooks name the stash.
  return { ...(vcs ? { vcs } : {}), ...stop };
}

/** Finishes the round's ledger row and writes its `round_end` (seconds, redacted evidence). */
function recordRound(deps: RoundDeps, r: OpenRound, { verdict, outcome }: AgentRun): void {
  const u = verdict.usage ?? {};
  deps.ledger.runner.finishRound(r.round, {
    classification: verdict.class,
    exitCode: outcome.exitCode,
    signal: outcome.signal,
    outputBytes: outcome.outputBytes,
    logFile: r.log.path,
    durationMs: outcome.durationMs,
    ...(u.input_tokens !== undefined ? { inputTokens: u.input_tokens } : {}),
    ...(u.output_tokens !== undefined ? { outputTokens: u.output_tokens } : {}),
    ...(u.cache_read_tokens !== undefined ? { cacheReadTokens: u.cache_read_tokens } : {}),
    ...(u.cache_creation_tokens !== undefined ? { cacheCreationTokens: u.cache_creation_tokens } : {}),
    ...(verdict.cost_usd !== undefined ? { costUsd: verdict.cost_usd } : {}),
    ...(verdict.rate_limit ? { rateLimit: verdict.rate_limit } : {}),
    evidence: verdict.evidence,
    endedAtMs: deps.now(),
  });
  r.emit('round_end', {
    phase: r.phase?.name ?? 'default',
    exit_code: outcome.exitCode,
    signal: outcome.signal,
    duration_s: Math.round(outcome.durationMs) / 1000,
    classification: verdict.class,
    output_bytes: outcome.outputBytes,
    usage: (verdict.usage as Record<string, unknown> | undefined) ?? null,
    cost_usd: verdict.cost_usd ?? null,
    evidence: verdict.evidence.map((ev): Record<string, unknown> => ({ ...ev, ...(ev.detail ? { detail: redactText(ev.detail) } : {}) })),
    ...(outcome.killedBy ? { killed_by: outcome.killedBy } : {}),
    ...(verdict.reset_at_ms !== undefined ? { reset_at: new Date(verdict.reset_at_ms).toISOString() } : {}),
    summary: redactText(verdict.summary).slice(0, 500),
  });
}

/** The prompt files of a round's phase, as {@link assemblePromptFiles} takes them. */
export function promptSpec(
  cfg: AgentRunnerConfig,
  phase: PhaseConfig | undefined,
): { files: string[]; separator: string; stripFrontMatter: boolean } {
  const p = phase?.prompt ?? cfg.prompt;
  return { files: p.files, separator: p.concat_separator, stripFrontMatter: p.strip_front_matter };
}

const secs = (ms: unknown): number => Math.round(Number(ms ?? 0)) / 1000;

/**
 * Records the agent's process group and its leader's start time in the round's row, so a serve
 * that starts after this one died (SIGKILL, OOM) can prove the group is still this round's and
 * end it. A failure is a journal warning, never the round's end: the agent is already running.
 */
function recordAgentGroup(deps: RoundDeps, round: number, handle: { pgid: number; starttimeTicks: number | undefined }): void {
  if (handle.starttimeTicks === undefined) {
    deps.log('warning', `round ${round}: the agent's start time could not be read; its process group ${handle.pgid} is not recorded`);
    return;
  }
  try {
    deps.ledger.runner.recordAgent(round, handle.pgid, handle.starttimeTicks);
  } catch (e) {
    deps.log('warning', `round ${round}: the agent's process group ${handle.pgid} is not recorded: ${(e as Error).message}`);
  }
}

type Emit = <K extends EventKind>(kind: K, payload: EventPayload<K>) => void;

/** Maps the supervisor's notices to catalogue events (seconds, the catalogue's field names); every notice has one. */
function emitSupervisorEvent(emit: Emit, kind: SuperviseEventKind, p: Record<string, unknown>, startedAtMs: number, nowMs: number): void {
  switch (kind) {
    case 'round_grace_extended':
      return emit(kind, {
        live_children: p['live_children'] as unknown[],
        ignored_children: p['ignored_children'] as unknown[],
        grace_s: secs(p['grace_ms']),
      });
    case 'round_grace_kill':
      return emit(kind, { grace_s: secs(p['grace_ms']), signal: 'SIGTERM' });
    case 'round_timeout_kill':
      return emit(kind, { timeout_s: secs(p['timeout_ms']), elapsed_s: secs(nowMs - startedAtMs), signal: 'SIGTERM' });
    case 'round_inactivity_kill':
      return emit(kind, { inactivity_s: secs(p['limit_ms']), idle_s: secs(p['idle_ms']), signal: 'SIGTERM' });
    case 'round_fatal_kill':
      return emit(kind, { class: String(p['class']), evidence: p['evidence'] as Record<string, unknown> });
    case 'round_operator_kill':
      return emit(kind, { reason: String(p['reason'] ?? 'operator').slice(0, 200) });
    case 'round_kill_result':
      return emit(kind, {
        killed_by: String(p['killed_by']),
        term_sent: p['term_sent'] === true,
        kill_sent: p['kill_sent'] === true,
        duration_s: secs(p['duration_ms']),
        survivors: p['survivors'] as unknown[],
      });
    case 'round_log_error':
      return emit(kind, {
        message: redactText(String(p['message'])).slice(0, 500),
        code: typeof p['code'] === 'string' ? p['code'] : null,
        dropped_bytes: Number(p['dropped_bytes'] ?? 0),
      });
    case 'round_line_truncated':
      return emit(kind, { line: Number(p['line']), max_length: Number(p['max_length']) });
    case 'classifier_error':
      return emit(kind, { line: Number(p['line']), message: redactText(String(p['message'])).slice(0, 500) });
  }
  // Every notice has its case: a new SuperviseEventKind fails to compile here.
  kind satisfies never;
}
