/**
 * The adapter registry: one adapter per supported agent CLI.
 */
import type { AgentRunnerConfig } from '@agent-runner/core/config';
import type { AgentAdapter, FailureClass } from './types.js';
import { AgentRunnerError } from '@agent-runner/core/errors';
import { aiderAdapter } from './aider.js';
import { claudeAdapter } from './claude.js';
import { codexAdapter } from './codex.js';
import { createGenericAdapter, type GenericAdapterOptions } from './generic.js';
import { geminiAdapter } from './gemini.js';

/** Names of the built-in adapters. */
export type AdapterName = AgentAdapter['name'];

/** The built-in adapters; `generic` here has no patterns (exit status only). */
export const ADAPTERS: Readonly<Record<AdapterName, AgentAdapter>> = Object.freeze({
  claude: claudeAdapter,
  codex: codexAdapter,
  gemini: geminiAdapter,
  aider: aiderAdapter,
  generic: createGenericAdapter(),
});

/** True when `name` is a built-in adapter name. */
export function isAdapterName(name: string): name is AdapterName {
  return Object.prototype.hasOwnProperty.call(ADAPTERS, name);
}

/**
 * The adapter for `name`. `generic` takes its patterns from `genericOptions`.
 * @throws AgentRunnerError `ERR_AR_CONFIG_INVALID` for an unknown name or a bad pattern.
 */
export function getAdapter(name: string, genericOptions?: GenericAdapterOptions): AgentAdapter {
  if (!isAdapterName(name)) {
    throw new AgentRunnerError('ERR_AR_CONFIG_INVALID', `unknown agent adapter "${name}"`, {
      key: 'agent.preset',
      expected: Object.keys(ADAPTERS).join(', '),
      found: name,
    });
  }
  if (name === 'generic' && genericOptions) return createGenericAdapter(genericOptions);
  return ADAPTERS[name];
}

/** Pattern classes of `[agent.patterns]` (the config's `result` is the final-result line). */
const PATTERN_CLASSES = ['auth', 'rate_limit', 'overloaded', 'server_error', 'network', 'timeout', 'config'] as const;

/**
 * The adapter a loaded config asks for: `agent.preset`, with `[agent.patterns]` for
 * `generic` and `agent.auth_fail_hint` overriding the preset's hint.
 * @throws AgentRunnerError `ERR_AR_CONFIG_INVALID` for a pattern that is not a valid regex.
 */
export function adapterFor(cfg: Pick<AgentRunnerConfig, 'agent'>): AgentAdapter {
  const a = cfg.agent;
  let adapter: AgentAdapter;
  if (a.preset === 'generic') {
    const patterns: NonNullable<GenericAdapterOptions['patterns']> = {};
    for (const cls of PATTERN_CLASSES) if (a.patterns[cls].length) patterns[cls] = [...a.patterns[cls]];
    const fatal: FailureClass[] = ['auth'];
    adapter = createGenericAdapter({
      command: a.command,
      prompt_delivery: a.prompt_delivery,
      prompt_arg_template: a.prompt_arg_template,
      terminal: a.terminal,
      env: a.env,
      patterns,
      fatal_classes: fatal,
      final_result: a.patterns.result,
      ...(a.patterns.line_filter !== undefined ? { line_filter: a.patterns.line_filter } : {}),
    });
  } else {
    adapter = getAdapter(a.preset);
  }
  return a.auth_fail_hint ? { ...adapter, authHint: a.auth_fail_hint } : adapter;
}

export type { GenericAdapterOptions } from './generic.js';
