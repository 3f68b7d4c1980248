import { accessSync, constants } from 'node:fs';
import type { AgentRunnerConfig } from '@agent-runner/core/config';
import { ensurePrivateDir } from '@agent-runner/core/atomic';
import type { ProjectPaths } from '@agent-runner/core/paths';
import { resolveExecutable } from './agent-process.js';
import { checkPromptFiles } from './prompt.js';
import { isWorkTree } from './vcs.js';

/** The first start-up check that failed: serve exits 78 with it, before any round burns. */
export interface StartupCheckFailure {
  /** `agent_on_path`, `prompt_file`, `git_work_tree`, `state_dir`. */
  check: string;
  detail: string;
}

/**
 * The start-up checks: the agent executable is on PATH, every prompt file is there, non-empty
 * and not cut off, the work dir is a git work tree, the state and log directories can be
 * created (0700) and written. Each of these fails the same way on every retry, so systemd must
 * not restart into it (exit 78). The ledger is opened by the caller; a failure there is the
 * same class.
 */
export async function startupChecks(
  cfg: AgentRunnerConfig,
  paths: ProjectPaths,
  env: Record<string, string | undefined>,
): Promise<StartupCheckFailure | undefined> {
  const exe = cfg.agent.command[0] ?? '';
  if (!resolveExecutable(exe, env['PATH'], cfg.runtime.work_dir)) {
    return {
      check: 'agent_on_path',
      detail: `agent executable not found: ${exe} (PATH=${env['PATH'] ?? ''}); install it or give agent.command an absolute path`,
    };
  }
  const files = new Set([...cfg.prompt.files, ...cfg.phases.flatMap((p) => p.prompt.files)]);
  const problem = checkPromptFiles([...files])[0];
  if (problem) return { check: 'prompt_file', detail: problem.detail };
  if (!(await isWorkTree(cfg.runtime.work_dir))) {
    return {
      check: 'git_work_tree',
      detail: `work dir is not a git work tree: ${cfg.runtime.work_dir}; run \`git init\` there or fix runtime.work_dir`,
    };
  }
  for (const dir of [paths.stateDir, paths.runDir, paths.logDir, paths.eventsDir, paths.roundsDir]) {
    try {
      ensurePrivateDir(dir);
      accessSync(dir, constants.W_OK);
    } catch (e) {
      return { check: 'state_dir', detail: `cannot create or write ${dir}: ${(e as Error).message}` };
    }
  }
  return undefined;
}
