import { existsSync, readFileSync } from 'node:fs';
import { findConfig, loadConfig } from '@agent-runner/core/config';
import { AgentRunnerError, isAgentRunnerError } from '@agent-runner/core/errors';
import { assertProjectName, type ServiceMode } from '@agent-runner/core/paths';
import type { CliContext } from '../context.js';
import { out, warn } from '../output.js';
import { currentUser, execCommand, systemctl } from '../systemd.js';
import { installedProjects, removeDropIn, removeTemplates } from '../systemd-files.js';
import { parseMeta, targetDropInPath, unitDir, unitNames } from '../systemd-render.js';
import { mustSucceed } from './install.js';
import type { UninstallArgs } from '../verbs/uninstall.js';

/** The project name: `--project`, else the config's (found the usual way). */
export function projectOf(ctx: CliContext, args: UninstallArgs): string {
  if (args.project) return assertProjectName(args.project);
  const file = findConfig({ explicit: args.config, envPath: ctx.env['AGENT_RUNNER_CONFIG'], cwd: ctx.cwd });
  return loadConfig(file, { env: ctx.env, mode: ctx.mode, skipFileChecks: true }).project;
}

/**
 * `agent-runner uninstall [--system] [--project P]`: stops and disables the project's units,
 * removes its drop-ins, the templates when no other project uses them, and the lingering
 * install enabled; reloads systemd and clears failed states. State and logs are kept (the
 * command says where).
 * @throws AgentRunnerError ERR_AR_NOT_INSTALLED, ERR_AR_NOPERM, ERR_AR_SYSTEMD.
 */
export async function uninstall(ctx: CliContext, args: UninstallArgs): Promise<number> {
  let project: string;
  try {
    project = projectOf(ctx, args);
  } catch (e) {
    if (isAgentRunnerError(e))
      throw new AgentRunnerError(e.code, `${e.message} (pass --project NAME when the config is gone)`, { hint: e.hint });
    throw e;
  }
  const scopes: ServiceMode[] = ctx.mode === 'system' ? ['system'] : ['user', 'system'];
  const scope = scopes.find((s) => existsSync(targetDropInPath(unitDir(s, ctx.env), project)));
  if (!scope)
    throw new AgentRunnerError(
      'ERR_AR_NOT_INSTALLED',
      `project ${project} has no agent-runner units installed${ctx.mode === 'system' ? ' (system mode)' : ''}`,
    );
  if (scope === 'system' && currentUser().uid !== 0) {
    throw new AgentRunnerError('ERR_AR_NOPERM', `project ${project} is installed as system units; removing them needs root`, {
      hint: 'Run `sudo agent-runner uninstall --system`.',
    });
  }
  const dir = unitDir(scope, ctx.env);
  const meta = parseMeta(readFileSync(targetDropInPath(dir, project), 'utf8'));
  const names = unitNames(project);
  const units = [...(meta?.units ?? [names.serve]), names.target];
  const sc = scope === 'system' ? '' : ' --user';

  // Stop first (graceful: serve's round finishes, bounded by TimeoutStopSec), then disable.
  mustSucceed(await systemctl(scope, ['stop', ...units], { env: ctx.env }), `systemctl${sc} stop`);
  mustSucceed(
    await systemctl(scope, ['disable', names.target, ...units.filter((u) => u !== names.target)], { env: ctx.env }),
    `systemctl${sc} disable`,
  );
  for (const u of units) if (removeDropIn(dir, u)) out(ctx, `removed ${dir}/${u}.d/50-agent-runner.conf`);
  const others = installedProjects(dir);
  if (others.length === 0) for (const p of removeTemplates(dir)) out(ctx, `removed ${p}`);
  else out(ctx, `kept the templates: still used by ${others.join(', ')}`);
  mustSucceed(await systemctl(scope, ['daemon-reload'], { env: ctx.env }), `systemctl${sc} daemon-reload`);
  await systemctl(scope, ['reset-failed', ...units], { env: ctx.env }); // fails harmlessly when none failed

  if (scope === 'user' && meta?.linger_enabled_by_install && others.length === 0) {
    const user = currentUser().username;
    const r = await execCommand('loginctl', ['disable-linger', user], { env: ctx.env });
    if (r.code === 0) out(ctx, `disabled lingering for ${user} (install had enabled it)`);
    else warn(ctx, `could not disable lingering (${r.stderr.trim()}); run: sudo loginctl disable-linger ${user}`);
  }
  out(ctx, `uninstalled ${project} (${scope} mode); state and logs were kept`);
  return 0;
}
