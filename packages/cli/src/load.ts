import { findConfig, loadConfig, type AgentRunnerConfig } from '@agent-runner/core/config';
import type { CliContext, GlobalArgs } from './context.js';

/** Finds and loads the project's config for a verb (`--config`, `$AGENT_RUNNER_CONFIG`, cwd upwards). */
export function loadProjectConfig(ctx: CliContext, args: GlobalArgs, opts: { skipFileChecks?: boolean } = {}): AgentRunnerConfig {
  const file = findConfig({ explicit: args.config, envPath: ctx.env['AGENT_RUNNER_CONFIG'], cwd: ctx.cwd });
  return loadConfig(file, { env: ctx.env, mode: ctx.mode, ...opts });
}
