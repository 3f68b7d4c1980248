/**
 * Operator hooks in the serve loop (docs/hooks.md): `serve_start` once before the first round,
 * `pre_round` before each round (may replace the prompt), `post_round` after it, `dirty_tree`
 * when it left the tree dirty. Each run goes through core's executor (runHook: own process
 * group, timeout, evented); this module builds the input document, the environment, keeps the
 * hook context (persisted in the state dir so a restart keeps it) and turns a failure into
 * what the hook's `on_failure` says.
 */
import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import { ensurePrivateDir, writeFileAtomic } from '@agent-runner/core/atomic';
import type { AgentRunnerConfig, HookConfig } from '@agent-runner/core/config';
import { readEnvFile } from '@agent-runner/core/env-file';
import type { EventWriter } from '@agent-runner/core/events';
import { readHooksContext } from '@agent-runner/core/hook-input';
import { HOOK_INPUT_VERSION, hookEnv, runHook, type HookInput, type HookResult, type HookRoundOutcome } from '@agent-runner/core/hooks';
import type { KillFn } from '@agent-runner/core/identity';
import type { ProjectPaths } from '@agent-runner/core/paths';
import { redactText, rememberSecretsIn } from '@agent-runner/core/redact';
import { dirname } from 'node:path';
import { agentEnv } from './agent-process.js';
import type { RoundResult } from './round.js';

type HookEvent = HookConfig['on'];
type Context = Record<string, unknown>;

/** A hook whose failure stops serve (`on_failure = "stop"`): serve exits 78 with a `config_broken` alarm. */
export interface HookStop {
  hook: string;
  event: HookEvent;
  /** The `hook_failed` message (one line, naming the hook, redacted). */
  message: string;
  /** Its stderr's last lines, redacted. */
  stderrTail: string;
}

/** What the `pre_round` hooks decided. */
export type PreRoundResult =
  | { kind: 'run'; /** The prompt text the agent gets (undefined: unchanged). */ prompt: string | undefined }
  | { kind: 'skip'; hook: string }
  | { kind: 'stop'; stop: HookStop };

/** What the `dirty_tree` hooks decided. */
export interface DirtyTreeDecision {
  /** The first answered action (undefined: `vcs.dirty_action`). */
  action?: 'stash' | 'commit' | 'ignore' | 'handled';
  /** The hook that answered it. */
  hook?: string;
  /** A hook failed with `on_failure = "stop"`. */
  stop?: HookStop;
}

/** What {@link ServeHooks} needs from serve. */
export interface ServeHooksDeps {
  cfg: AgentRunnerConfig;
  paths: ProjectPaths;
  events: EventWriter;
  /** The runner's environment (the agent's base; see round.ts). */
  env: Record<string, string | undefined>;
  /** The adapter preset's variables (the agent gets them too). */
  presetEnv: Readonly<Record<string, string>>;
  kill: KillFn;
  log: (priority: 'warning' | 'notice' | 'info', line: string) => void;
}

const sha256 = (text: string): string => createHash('sha256').update(text, 'utf8').digest('hex');

/** A hook outcome of a round the serve loop has in memory. */
export function outcomeOf(r: RoundResult): HookRoundOutcome {
  const u = r.verdict.usage;
  const usage: Record<string, number> = {};
  for (const [k, v] of Object.entries(u ?? {})) if (typeof v === 'number') usage[k] = v;
  return {
    round: r.round,
    class: r.verdict.class,
    exit_code: r.outcome.exitCode,
    signal: r.outcome.signal,
    duration_s: Math.round(r.outcome.durationMs) / 1000,
    summary: redactText(r.verdict.summary).slice(0, 500),
    usage: Object.keys(usage).length ? usage : null,
    cost_usd: r.verdict.cost_usd ?? null,
    stash_sha: r.vcs?.action === 'stash' ? (r.vcs.sha ?? null) : null,
    commit_sha: r.vcs?.action === 'commit' ? (r.vcs.sha ?? null) : null,
  };
}

/** The hooks of one serve, in config order, and the hook context they build up. */
export class ServeHooks {
  /** The context fields hooks answered so far (the latest value of each). */
  readonly context: Context;
  private readonly host = hostname();

  constructor(private readonly d: ServeHooksDeps) {
    this.context = d.cfg.hooks.some((h) => h.enabled) ? readHooksContext(d.paths.hookContextFile, (line) => d.log('warning', line)) : {};
  }

  /** The enabled hooks of `on`, in config order. */
  of(on: HookEvent): HookConfig[] {
    return this.d.cfg.hooks.filter((h) => h.enabled && h.on === on);
  }

  /** Runs `serve_start` hooks. @returns the stop, when one failed with `on_failure = "stop"`. */
  async serveStart(round: number, phase: string | undefined, previous: HookRoundOutcome | null): Promise<HookStop | undefined> {
    for (const hook of this.of('serve_start')) {
      const r = await this.run(hook, { round, phase, previous });
      if (!r.ok && hook.on_failure === 'stop') return stopOf(hook, r);
    }
    return undefined;
  }

  /**
   * Runs `pre_round` hooks on the assembled prompt: each sees the prompt the previous one
   * left; a replacement is audited (`prompt_overwritten`), `context` answers are merged.
   */
  async preRound(round: number, phase: string | undefined, previous: HookRoundOutcome | null, prompt: string): Promise<PreRoundResult> {
    let text = prompt;
    for (const hook of this.of('pre_round')) {
      const r = await this.run(hook, { round, phase, previous, prompt: text });
      if (!r.ok) {
        if (hook.on_failure === 'stop') return { kind: 'stop', stop: stopOf(hook, r) };
        if (hook.on_failure === 'skip_round') return { kind: 'skip', hook: hook.name };
        continue;
      }
      if (r.answer.context) this.merge(r.answer.context);
      const next = r.answer.prompt;
      if (next !== undefined && next !== text) {
        this.d.events.emit(
          'prompt_overwritten',
          {
            hook: hook.name,
            old_sha256: sha256(text),
            new_sha256: sha256(next),
            old_bytes: Buffer.byteLength(text, 'utf8'),
            new_bytes: Buffer.byteLength(next, 'utf8'),
          },
          { round },
        );
        this.d.log(
          'notice',
          `round ${round}: hook ${hook.name} replaced the prompt (${Buffer.byteLength(text, 'utf8')} -> ${Buffer.byteLength(next, 'utf8')} bytes)`,
        );
        text = next;
      }
    }
    return { kind: 'run', prompt: text === prompt ? undefined : text };
  }

  /** Runs `post_round` hooks after `result` was recorded. @returns the stop, if any. */
  async postRound(result: RoundResult): Promise<HookStop | undefined> {
    const previous = outcomeOf(result);
    for (const hook of this.of('post_round')) {
      const r = await this.run(hook, { round: result.round, phase: result.phase, previous });
      if (r.ok) {
        if (r.answer.context) this.merge(r.answer.context);
      } else if (hook.on_failure === 'stop') return stopOf(hook, r);
    }
    return undefined;
  }

  /** Runs `dirty_tree` hooks until one answers an action (or one stops serve). */
  async dirtyTree(outcome: HookRoundOutcome, phase: string | undefined, dirtyFiles: string[]): Promise<DirtyTreeDecision> {
    for (const hook of this.of('dirty_tree')) {
      const r = await this.run(hook, { round: outcome.round, phase, previous: outcome, dirtyFiles });
      if (!r.ok) {
        if (hook.on_failure === 'stop') return { stop: stopOf(hook, r) };
        continue;
      }
      if (r.answer.action) return { action: r.answer.action, hook: hook.name };
    }
    return {};
  }

  /** Merges `fields` into the context (a null field is removed) and persists it atomically. */
  merge(fields: Context): void {
    for (const [k, v] of Object.entries(fields)) {
      if (v === null) delete this.context[k];
      else this.context[k] = v;
    }
    const file = this.d.paths.hookContextFile;
    try {
      ensurePrivateDir(dirname(file));
      writeFileAtomic(file, `${JSON.stringify(this.context, null, 2)}\n`);
    } catch (e) {
      // Kept in memory: only a restart before the next write loses it.
      this.d.log('warning', `hook context not saved to ${file}: ${(e as Error).message}`);
    }
  }

  /** The input document of one run. */
  input(
    hook: HookConfig,
    f: { round: number | null; phase: string | undefined; previous: HookRoundOutcome | null; prompt?: string; dirtyFiles?: string[] },
  ): HookInput {
    const { cfg } = this.d;
    return {
      version: HOOK_INPUT_VERSION,
      event: hook.on,
      hook: hook.name,
      project: cfg.project,
      host: this.host,
      work_dir: cfg.runtime.work_dir,
      config_file: cfg.source,
      round: f.round,
      phase: f.phase ?? null,
      previous_round: f.previous,
      context: { ...this.context },
      ...(f.prompt !== undefined ? { prompt: f.prompt } : {}),
      ...(f.dirtyFiles !== undefined ? { dirty_files: f.dirtyFiles } : {}),
    };
  }

  /**
   * The agent's environment for round `round` (the runner's, the preset's, `[agent.env]`, the
   * env file's), which hookEnv narrows. An env file that cannot be read is left out, with a warning.
   */
  private agentEnvironment(round: number, phase: string | undefined): Record<string, string> {
    const { cfg, paths } = this.d;
    let fromFile: Record<string, string> = {};
    if (cfg.agent.env_file) {
      try {
        fromFile = readEnvFile(cfg.agent.env_file);
        rememberSecretsIn(fromFile, true);
      } catch (e) {
        this.d.log('warning', `hooks run without the env file ${cfg.agent.env_file}: ${redactText((e as Error).message)}`);
      }
    }
    return agentEnv(
      { ...this.d.env, ...this.d.presetEnv, ...cfg.agent.env, ...fromFile },
      { logDir: paths.logDir, round, project: cfg.project, ...(phase !== undefined ? { phase } : {}) },
    );
  }

  private async run(hook: HookConfig, f: Parameters<ServeHooks['input']>[1]): Promise<HookResult> {
    const input = this.input(hook, f);
    const round = f.round ?? 0;
    const env = hookEnv(this.agentEnvironment(round, f.phase), hook, input);
    const r = await runHook(hook, input, {
      cwd: this.d.cfg.runtime.work_dir,
      env,
      kill: this.d.kill,
      events: this.d.events,
      ...(f.round !== null ? { round: f.round } : {}),
    });
    if (!r.ok) this.d.log('warning', `${r.message} (${hook.on}, on_failure ${hook.on_failure})`);
    return r;
  }
}

function stopOf(hook: HookConfig, r: Extract<HookResult, { ok: false }>): HookStop {
  return { hook: hook.name, event: hook.on, message: r.message, stderrTail: r.stderrTail };
}
