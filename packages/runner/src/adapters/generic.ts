/**
 * The generic adapter: any CLI, classified by operator-supplied regular expressions.
 * Patterns apply only to lines that match the optional `line_filter` (e.g. `^ERROR ` or
 * `^\{"level":"error"`), so that file contents echoed by the agent can be kept out.
 */
import type { AgentAdapter, AgentPreset, Classifier, FailureClass, LiveSignal } from './types.js';
import { ClassifierBase } from './classifier-base.js';
import { AgentRunnerError } from '@agent-runner/core/errors';

/** Options of {@link createGenericAdapter}. */
export interface GenericAdapterOptions {
  /** argv of the agent, without the prompt. Default `[]` (the config supplies the command). */
  command?: string[];
  prompt_delivery?: 'argv' | 'stdin';
  prompt_arg_template?: string[];
  terminal?: 'pty' | 'pipe';
  env?: Record<string, string>;
  grace_kill_ignore_patterns?: string[];
  /** Regex sources per class; the first matching class in the order of the keys wins per line. */
  patterns?: Partial<Record<Exclude<FailureClass, 'ok' | 'crash' | 'hang'>, string[]>>;
  /** Regex source a line must match before `patterns` are tried. */
  line_filter?: string;
  /** Classes that end the round at once when matched. Default `['auth']`. */
  fatal_classes?: FailureClass[];
  /** Regex sources of the agent's "final result" line (starts the grace period). */
  final_result?: string[];
  /** Text for operators on an auth failure. */
  auth_hint?: string;
}

interface Compiled {
  filter: RegExp | undefined;
  rules: { cls: FailureClass; re: RegExp }[];
  fatal: Set<FailureClass>;
  final: RegExp | undefined;
}

function compile(source: string, what: string): RegExp {
  try {
    return new RegExp(source);
  } catch (err) {
    throw new AgentRunnerError('ERR_AR_CONFIG_INVALID', `generic adapter: ${what} is not a valid regular expression: ${source}`, {
      key: `agent.patterns.${what}`,
      expected: 'a JavaScript regular expression',
      found: `${source} (${(err as Error).message})`,
    });
  }
}

class GenericClassifier extends ClassifierBase {
  constructor(private readonly c: Compiled) {
    super();
  }

  line(text: string, lineNo: number): LiveSignal | undefined {
    if (this.c.final?.test(text)) {
      this.noteTerminal({ class: 'ok', evidence: { source: 'stream', line: lineNo, event_type: 'final_result', detail: text } });
      return { kind: 'final_result' };
    }
    if (this.c.filter && !this.c.filter.test(text)) return undefined;
    for (const { cls, re } of this.c.rules) {
      if (!re.test(text)) continue;
      const f = { class: cls, evidence: { source: 'stream' as const, line: lineNo, event_type: `pattern/${cls}`, detail: text } };
      if (this.c.fatal.has(cls)) return this.noteFatal(f);
      this.noteTransient(f);
      return undefined;
    }
    return undefined;
  }
}

/**
 * Builds a generic adapter from patterns.
 * @throws AgentRunnerError `ERR_AR_CONFIG_INVALID` when a pattern is not a valid regex.
 */
export function createGenericAdapter(options: GenericAdapterOptions = {}): AgentAdapter {
  const rules: Compiled['rules'] = [];
  for (const [cls, sources] of Object.entries(options.patterns ?? {})) {
    for (const s of sources ?? []) rules.push({ cls: cls as FailureClass, re: compile(s, `patterns.${cls}`) });
  }
  const compiled: Compiled = {
    filter: options.line_filter !== undefined ? compile(options.line_filter, 'line_filter') : undefined,
    rules,
    fatal: new Set(options.fatal_classes ?? ['auth']),
    final: options.final_result?.length ? compile(options.final_result.map((s) => `(?:${s})`).join('|'), 'final_result') : undefined,
  };
  const preset: AgentPreset = {
    command: options.command ?? [],
    prompt_delivery: options.prompt_delivery ?? 'stdin',
    prompt_arg_template: options.prompt_arg_template ?? [],
    terminal: options.terminal ?? 'pipe',
    env: options.env ?? {},
    grace_kill_ignore_patterns: options.grace_kill_ignore_patterns ?? [],
  };
  return {
    name: 'generic',
    preset,
    authHint:
      options.auth_hint ??
      'The agent reported an authentication failure: refresh its credentials on the host (a changed unit EnvironmentFile needs `agent-runner restart`). A paused runner probes and resumes by itself once login works.',
    createClassifier(): Classifier {
      return new GenericClassifier(compiled);
    },
  };
}
