import { join, isAbsolute, resolve } from 'node:path';
import { AgentRunnerError } from './errors.js';

/**
 * How agent-runner runs on a host: `user` (systemd --user, XDG directories) or `system`
 * (system units, FHS directories under /var).
 */
export type ServiceMode = 'user' | 'system';

/**
 * The files and directories of one project's state. Every daemon derives its paths from here,
 * so the three contracts (markers, events, ledger) always meet in the same place.
 *
 * Layout (all directories 0700, state files 0600):
 * ```
 * <stateDir>/ledger.sqlite3          SQLite ledger (+ -wal, -shm)
 * <stateDir>/run/                    markers: enrollment, heartbeat, restart, stop request
 * <stateDir>/hooks-context.json      the context fields hooks answered (docs/hooks.md)
 * <logDir>/events/events-YYYY-MM-DD.jsonl   JSONL event stream, one file per UTC day
 * <logDir>/rounds/R<N>-<UTC>.log     one log per round
 * <logDir>/round-current.log         symlink to the live round log
 * <logDir>/.agent-done               the agent's self-termination sentinel
 * ```
 */
export interface ProjectPaths {
  /** Project name (the systemd instance name). */
  readonly project: string;
  /** Root of durable state (ledger, markers). */
  readonly stateDir: string;
  /** Root of logs; exported to agents as `AGENT_RUNNER_LOG_DIR`. */
  readonly logDir: string;
  /** Directory of the daily JSONL event files. */
  readonly eventsDir: string;
  /** Directory of per-round logs. */
  readonly roundsDir: string;
  /** Symlink to the live round log. */
  readonly currentRoundLog: string;
  /** The SQLite ledger file. */
  readonly ledgerPath: string;
  /** Directory of marker files (enrollment, heartbeat, restart, stop). */
  readonly runDir: string;
  /** The stop-request marker (`agent-runner stop` writes it; `touch` works too). */
  readonly stopFile: string;
  /** The agent's `.agent-done` sentinel. */
  readonly agentDoneFile: string;
  /** The hooks' context fields (a JSON object), kept across restarts of serve. */
  readonly hookContextFile: string;
}

/** Environment variables consulted to place state (a subset of `process.env`). */
export interface PathEnv {
  HOME?: string | undefined;
  XDG_STATE_HOME?: string | undefined;
  /** Set by systemd for units with `StateDirectory=`. */
  STATE_DIRECTORY?: string | undefined;
  /** Set by systemd for units with `LogsDirectory=`. */
  LOGS_DIRECTORY?: string | undefined;
  /** Where the config's hook commands are looked up when it is loaded. */
  PATH?: string | undefined;
}

const PROJECT_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/**
 * Checks that `name` is usable as a project name: a systemd instance name and a directory
 * name at once (letters, digits, `_`, `.`, `-`; 1-64 characters; no leading punctuation).
 * @throws AgentRunnerError ERR_AR_CONFIG_INVALID otherwise.
 */
export function assertProjectName(name: string, key = 'project'): string {
  if (!PROJECT_NAME.test(name)) {
    throw new AgentRunnerError('ERR_AR_CONFIG_INVALID', `invalid project name ${JSON.stringify(name)}`, {
      key,
      expected: '1-64 characters of A-Z a-z 0-9 _ . - starting with a letter or digit',
      found: JSON.stringify(name),
    });
  }
  return name;
}

/**
 * Default state and log roots of a project.
 *
 * - user mode follows the XDG Base Directory spec: `$XDG_STATE_HOME/agent-runner/<project>`
 *   (default `~/.local/state/agent-runner/<project>`), logs in its `logs/` subdirectory
 *   (XDG puts logs under the state home).
 * - system mode follows the FHS: `/var/lib/agent-runner/<project>` for state and
 *   `/var/log/agent-runner/<project>` for logs — or systemd's `$STATE_DIRECTORY` and
 *   `$LOGS_DIRECTORY` when the unit sets `StateDirectory=` / `LogsDirectory=`.
 */
export function defaultDirs(project: string, mode: ServiceMode, env: PathEnv): { stateDir: string; logDir: string } {
  assertProjectName(project);
  if (mode === 'system') {
    const stateDir = env.STATE_DIRECTORY || join('/var/lib/agent-runner', project);
    const logDir = env.LOGS_DIRECTORY || join('/var/log/agent-runner', project);
    return { stateDir, logDir };
  }
  const home = env.HOME;
  const xdg = env.XDG_STATE_HOME && isAbsolute(env.XDG_STATE_HOME) ? env.XDG_STATE_HOME : undefined;
  if (!xdg && !home) {
    throw new AgentRunnerError('ERR_AR_STATE_DIR', 'cannot place the state directory: neither XDG_STATE_HOME nor HOME is set', {
      hint: 'Set HOME, or set [runtime] state_dir in agent-runner.toml.',
    });
  }
  const stateDir = join(xdg ?? join(home as string, '.local', 'state'), 'agent-runner', project);
  return { stateDir, logDir: join(stateDir, 'logs') };
}

/**
 * Builds the full layout from the two roots.
 * @param stopFile override of the stop-request marker path (absolute or relative to stateDir).
 */
export function projectPaths(project: string, stateDir: string, logDir: string, stopFile?: string): ProjectPaths {
  const runDir = join(stateDir, 'run');
  return {
    project,
    stateDir,
    logDir,
    eventsDir: join(logDir, 'events'),
    roundsDir: join(logDir, 'rounds'),
    currentRoundLog: join(logDir, 'round-current.log'),
    ledgerPath: join(stateDir, 'ledger.sqlite3'),
    runDir,
    stopFile: stopFile ? resolve(stateDir, stopFile) : join(runDir, 'stop-requested'),
    agentDoneFile: join(logDir, '.agent-done'),
    hookContextFile: join(stateDir, 'hooks-context.json'),
  };
}
