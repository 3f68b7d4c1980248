import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import type { HookConfig } from './types.js';

/** `on_failure` of a hook that does not set it, per event (the schema's description says the same). */
export const HOOK_FAILURE_DEFAULT: Readonly<Record<HookConfig['on'], HookConfig['on_failure']>> = {
  serve_start: 'stop',
  pre_round: 'skip_round',
  post_round: 'continue',
  dirty_tree: 'continue',
  detector: 'continue',
};

/**
 * Why `command` (argv[0] of a hook: an absolute path, or a name looked up on `PATH`) cannot
 * be run, or undefined when it is an executable regular file.
 */
export function commandProblem(command: string, path: string | undefined): string | undefined {
  const runnable = (p: string): boolean => {
    try {
      accessSync(p, constants.X_OK);
      return statSync(p).isFile();
    } catch {
      return false; // EACCES, ENOENT, ENOTDIR, ELOOP: each means it cannot be run
    }
  };
  if (command.includes('/')) {
    try {
      statSync(command);
    } catch {
      // ENOENT; EACCES or ENOTDIR on the way leave nothing to run too: a check reports, never throws.
      return `${command} does not exist`;
    }
    return runnable(command) ? undefined : `${command} is not an executable file (chmod +x?)`;
  }
  const dirs = (path ?? '').split(delimiter).filter(Boolean);
  return dirs.some((d) => runnable(join(d, command)))
    ? undefined
    : `${command} is not on PATH (${dirs.length ? dirs.join(delimiter) : 'PATH is empty'})`;
}
