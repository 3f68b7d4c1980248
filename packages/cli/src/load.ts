import { findConfig, loadConfig, type AgentRunnerConfig } from '@agent-runner/core/config';
import type { ServiceMode } from '@agent-runner/core/paths';
import type { CliContext, GlobalArgs } from './context.js';
import { findInstallByConfig } from './systemd.js';

/** The project's config file for a verb (`--config`, `$AGENT_RUNNER_CONFIG`, cwd upwards). */
export function projectConfigFile(ctx: CliContext, args: GlobalArgs): string {
  return findConfig({ explicit: args.config, envPath: ctx.env['AGENT_RUNNER_CONFIG'], cwd: ctx.cwd });
}

/**
 * The mode whose state a verb reads: `--system` or `$AGENT_RUNNER_MODE` when given (the units
 * set it), else the mode the config was installed in (so the service user's `agent-runner
 * peek` in the project directory reads the system units' state), else user.
 */
export function effectiveMode(ctx: CliContext, configFile: string): ServiceMode {
  if (ctx.mode === 'system' || ctx.env['AGENT_RUNNER_MODE']) return ctx.mode;
  return findInstallByConfig(configFile, ctx.env)?.scope ?? 'user';
}

/** Finds and loads the project's config for a verb, in the {@link effectiveMode}. */
export function loadProjectConfig(ctx: CliContext, args: GlobalArgs, opts: { skipFileChecks?: boolean } = {}): AgentRunnerConfig {
  const file = projectConfigFile(ctx, args);
  return loadConfig(file, { env: ctx.env, mode: effectiveMode(ctx, file), ...opts });
}
