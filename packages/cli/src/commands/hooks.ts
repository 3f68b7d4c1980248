import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { commandProblem, configPaths, didYouMean, type AgentRunnerConfig, type HookConfig } from '@agent-runner/core/config';
import { AgentRunnerError } from '@agent-runner/core/errors';
import { buildHookInput } from '@agent-runner/core/hook-input';
import { hookEnv, runHook, type HookInput, type HookResult } from '@agent-runner/core/hooks';
import { openLedger, type Ledger } from '@agent-runner/core/ledger';
import { redactStrings, redactText } from '@agent-runner/core/redact';
import type { CliContext, GlobalArgs } from '../context.js';
import { loadProjectConfig } from '../load.js';
import { out, outJson } from '../output.js';
import { table } from '../table.js';
import type { HooksTestArgs } from '../verbs/hooks.js';

/** A hook as `hooks` lists it. */
function hookView(h: HookConfig, env: CliContext['env']): Record<string, unknown> {
  const first = h.command[0];
  return {
    name: h.name,
    on: h.on,
    enabled: h.enabled,
    command: h.command,
    timeout_s: h.timeout_s,
    on_failure: h.on_failure,
    pass_env: h.pass_env,
    problem: first === undefined ? 'no command' : (commandProblem(first, env['PATH']) ?? null),
  };
}

const shellWord = (w: string): string => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(w) ? w : `'${w.replace(/'/g, `'\\''`)}'`);
const commandLine = (argv: readonly string[]): string => argv.map(shellWord).join(' ');

/**
 * `agent-runner hooks [--json]`: the `[hooks.NAME]` tables in config order — name, event,
 * enabled, command, timeout, on_failure — and, for a command that cannot be run (missing, not
 * executable, not on PATH), why. Exit 0.
 */
export function hooksList(ctx: CliContext, args: GlobalArgs): number {
  const cfg = loadProjectConfig(ctx, args, { skipFileChecks: true });
  const hooks = cfg.hooks.map((h) => hookView(h, ctx.env));
  if (args.json) {
    outJson(ctx, { config_file: cfg.source, hooks });
    return 0;
  }
  if (!hooks.length) {
    out(ctx, `no hooks in ${cfg.source} (a [hooks.NAME] table each; see docs/hooks.md)`);
    return 0;
  }
  const rows = cfg.hooks.map((h, i) => {
    const problem = hooks[i]?.['problem'];
    const command = commandLine(h.command) + (typeof problem === 'string' && h.enabled ? `\n! ${problem}` : '');
    // Redacted before the layout: a wrapped line could split a secret past the patterns' reach.
    return [h.name, h.on, h.enabled ? 'yes' : 'no', `${h.timeout_s} s`, h.on_failure, command].map(redactText);
  });
  table(rows, { head: ['NAME', 'ON', 'ENABLED', 'TIMEOUT', 'ON_FAILURE', 'COMMAND'], width: ctx.columns }).forEach((l) => out(ctx, l));
  return 0;
}

/** The hook named, or the usage error (exit 64) naming the configured ones. */
function findHook(cfg: AgentRunnerConfig, name: string): HookConfig {
  const hook = cfg.hooks.find((h) => h.name === name);
  if (hook) return hook;
  const names = cfg.hooks.map((h) => h.name);
  const guess = didYouMean(name, names);
  throw new AgentRunnerError('ERR_AR_USAGE', `no [hooks.${name}] in ${cfg.source}`, {
    expected: names.length ? `one of ${names.join(', ')}` : 'a [hooks.NAME] table in the config (docs/hooks.md)',
    found: name,
    hint: guess ? `did you mean \`${guess}\`? \`agent-runner hooks\` lists them.` : '`agent-runner hooks` lists the configured hooks.',
  });
}

/**
 * The prompt a `pre_round` hook of the next round gets (docs/hooks.md): the runner's own
 * assembly of that round's phase's prompt files, front matter stripped, without the context
 * block (serve adds it after the hooks). Earlier `pre_round` hooks are not applied here.
 */
async function nextPrompt(cfg: AgentRunnerConfig, input: HookInput, notes: string[]): Promise<string> {
  const { assemblePrompt } = await import('@agent-runner/runner/prompt');
  const phase = input.phase !== null ? cfg.phases.find((p) => p.name === input.phase) : undefined;
  const src = phase?.prompt ?? cfg.prompt;
  try {
    const p = assemblePrompt({
      files: src.files,
      separator: src.concat_separator,
      stripFrontMatter: src.strip_front_matter,
      baseDir: cfg.runtime.work_dir,
    });
    notes.push(
      `prompt: round ${String(input.round)}'s prompt files${phase ? ` (phase ${phase.name})` : ''}, as serve assembles them; earlier pre_round hooks are not applied here`,
    );
    return p.text;
  } catch (e) {
    notes.push(`prompt: empty, the prompt could not be assembled: ${(e as Error).message}`);
    return '';
  }
}

/** `git status --porcelain` paths of the work dir, for a `dirty_tree` hook. */
function dirtyFiles(workDir: string, notes: string[]): string[] {
  try {
    const text = execFileSync('git', ['status', '--porcelain', '-z', '--untracked-files=all'], {
      cwd: workDir,
      encoding: 'utf8',
      timeout: 10_000,
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    const files: string[] = [];
    const parts = text.split('\0');
    for (let i = 0; i < parts.length; i++) {
      const entry = parts[i] as string;
      if (entry.length < 4) continue;
      files.push(entry.slice(3));
      if (entry[0] === 'R' || entry[0] === 'C') i++; // the rename's source follows
    }
    notes.push(`dirty_files: what git status lists now (${files.length}; serve leaves out its own state, log and config files)`);
    return files;
  } catch (e) {
    notes.push(`dirty_files: empty, git status failed: ${(e as Error).message.split('\n')[0] ?? ''}`);
    return [];
  }
}

const seconds = (ms: number): string => `${(Math.round(ms / 100) / 10).toFixed(1)} s`;

/**
 * `agent-runner hooks test NAME [--json]`: runs hook NAME once, as serve (or the monitor)
 * would now — its input built from the last round (core/hook-input), for `pre_round` the next
 * round's prompt, for `dirty_tree` the work dir's dirty files — in the work dir, its own
 * process group, under its timeout, writing no events and changing nothing else. Prints the
 * exit code, the duration and the parsed answer, or the failure with its stderr tail; `--json`
 * the hook, its input, the result and notes. Exit 0 when the hook succeeded, 1 when it failed.
 * @throws AgentRunnerError ERR_AR_USAGE (exit 64) for a name that is no `[hooks.NAME]`.
 */
export async function hooksTest(ctx: CliContext, args: HooksTestArgs): Promise<number> {
  const cfg = loadProjectConfig(ctx, args, { skipFileChecks: true });
  const hook = findHook(cfg, args.name);
  const paths = configPaths(cfg);
  const notes: string[] = [];
  if (!hook.enabled) notes.push('disabled (enabled = false): serve and the monitor do not run it; tested anyway');
  let ledger: Ledger | undefined;
  let input: HookInput;
  try {
    if (existsSync(paths.ledgerPath)) ledger = openLedger(paths.ledgerPath, { readonly: true });
    else notes.push('no ledger yet: no rounds');
    input = buildHookInput(hook, { cfg, paths, rounds: ledger?.runner });
  } finally {
    ledger?.close();
  }
  if (hook.on === 'pre_round') input.prompt = await nextPrompt(cfg, input, notes);
  if (hook.on === 'dirty_tree') input.dirty_files = dirtyFiles(cfg.runtime.work_dir, notes);
  const env = hookEnv({ ...ctx.env, ...cfg.agent.env }, hook, input);
  const result = await runHook(hook, input, { cwd: cfg.runtime.work_dir, env, kill: ctx.kill });
  if (args.json) {
    outJson(
      ctx,
      redactStrings({
        ok: result.ok,
        hook: hookView(hook, ctx.env),
        input,
        result: { ...result, duration_s: Math.round(result.durationMs) / 1000 },
        notes,
      }),
    );
    return result.ok ? 0 : 1;
  }
  renderResult(ctx, hook, input, result, notes);
  return result.ok ? 0 : 1;
}

function renderResult(ctx: CliContext, hook: HookConfig, input: HookInput, r: HookResult, notes: string[]): void {
  const say = (line: string): void => out(ctx, redactText(line));
  say(`hook ${hook.name} (${hook.on}): ${commandLine(hook.command)}  [timeout ${hook.timeout_s} s, on_failure ${hook.on_failure}]`);
  const prev = input.previous_round;
  const fields = Object.keys(input.context).length;
  say(
    `input: round ${input.round ?? 'none'}${input.phase ? ` (phase ${input.phase})` : ''}, previous round ${prev ? `${prev.round} (${prev.class})` : 'none'}, ${fields} context field${fields === 1 ? '' : 's'}${input.prompt !== undefined ? `, prompt of ${Buffer.byteLength(input.prompt)} bytes` : ''}${input.dirty_files ? `, ${input.dirty_files.length} dirty files` : ''}`,
  );
  for (const n of notes) say(`note: ${n}`);
  if (r.ok) {
    const keys = Object.keys(r.answer);
    say(`ok: exit 0 after ${seconds(r.durationMs)}; answered ${keys.length ? keys.join(', ') : 'nothing'}`);
    if (keys.length) for (const l of JSON.stringify(r.answer, null, 2).split('\n')) say(`  ${l}`);
  } else {
    say(`failed (${r.reason}) after ${seconds(r.durationMs)}: ${r.message}`);
    say(`exit code: ${r.exitCode ?? 'none'}, signal: ${r.signal ?? 'none'}`);
    say(`in ${hook.on === 'detector' ? 'the monitor' : 'serve'} this failure does: ${hook.on_failure}`);
  }
  if (r.stderrTail.trim()) {
    say('stderr (last lines):');
    for (const l of r.stderrTail.replace(/\n+$/, '').split('\n')) say(`  | ${l}`);
  }
}
