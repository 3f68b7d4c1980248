/**
 * One error type for everything agent-runner reports to an operator, with stable
 * `ERR_AR_*` codes mapped to sysexits(3) exit codes.
 *
 * Exit codes follow sysexits.h (BSD): systemd units rely on 75 (retry) and 78
 * (`RestartPreventExitStatus=78`, configuration broken).
 */

/** sysexits(3) exit codes used by agent-runner. */
export const EXIT = {
  /** Done, including clean stops (max_rounds, stop request, `.agent-done`). */
  OK: 0,
  /** Generic failure that fits no sysexits class. */
  FAILURE: 1,
  /** EX_USAGE: bad command line. */
  USAGE: 64,
  /** EX_DATAERR: input data (a file other than the config) is malformed. */
  DATAERR: 65,
  /** EX_NOINPUT: an input file does not exist or is unreadable. */
  NOINPUT: 66,
  /** EX_UNAVAILABLE: a required service or program is unavailable. */
  UNAVAILABLE: 69,
  /** EX_SOFTWARE: internal error (a bug). */
  SOFTWARE: 70,
  /** EX_CANTCREAT: an output file or directory cannot be created. */
  CANTCREAT: 73,
  /** EX_IOERR: an I/O error. */
  IOERR: 74,
  /** EX_TEMPFAIL: temporary failure; systemd restarts the unit. */
  TEMPFAIL: 75,
  /** EX_NOPERM: insufficient permission. */
  NOPERM: 77,
  /** EX_CONFIG: configuration broken; units do not restart on it. */
  CONFIG: 78,
} as const;

/** A sysexits exit code. */
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/**
 * Exits of `serve` that a restart cannot help, each told to the operator by its own alarm:
 * its unit's `RestartPreventExitStatus=`, and stops on purpose to the watchdog. 69 = crash
 * loop with `crash_loop.cooldown_s = 0`, 77 = a bounded run whose last round failed
 * authentication, 78 = configuration broken.
 */
export const SERVE_FINAL_EXITS: readonly ExitCode[] = [EXIT.UNAVAILABLE, EXIT.NOPERM, EXIT.CONFIG];

interface CodeSpec {
  readonly exit: ExitCode;
  readonly summary: string;
  readonly hint: string;
}

/**
 * The catalogue of stable error codes. A code is never renamed or reused; `docs/errors.md`
 * is generated from this table.
 */
export const ERROR_CODES = {
  ERR_AR_USAGE: {
    exit: EXIT.USAGE,
    summary: 'The command line is invalid.',
    hint: 'Run the command with --help to see its options.',
  },
  ERR_AR_CONFIG_NOT_FOUND: {
    exit: EXIT.CONFIG,
    summary: 'No agent-runner.toml was found.',
    hint: 'Pass --config PATH, set AGENT_RUNNER_CONFIG, or run `agent-runner init` in the project.',
  },
  ERR_AR_CONFIG_SYNTAX: {
    exit: EXIT.CONFIG,
    summary: 'The config file is not valid TOML.',
    hint: 'Fix the TOML at the line and column shown; `agent-runner config check` re-validates.',
  },
  ERR_AR_CONFIG_UNKNOWN_KEY: {
    exit: EXIT.CONFIG,
    summary: 'The config file has a key agent-runner does not know.',
    hint: 'Check the spelling against docs/configuration.md; the message suggests the closest key.',
  },
  ERR_AR_CONFIG_INVALID: {
    exit: EXIT.CONFIG,
    summary: 'A config value has the wrong type, is out of range, or a required key is missing.',
    hint: 'See docs/configuration.md for the expected type and range of the key named.',
  },
  ERR_AR_CONFIG_SEMANTIC: {
    exit: EXIT.CONFIG,
    summary: 'The config is well-formed but inconsistent (a missing file, an unknown phase, ...).',
    hint: 'Fix the key named in the message; `agent-runner config check` re-validates.',
  },
  ERR_AR_NOT_GIT_REPO: {
    exit: EXIT.USAGE,
    summary: 'The directory is not inside a git work tree.',
    hint: 'Run `git init` first, or run the command inside the project checkout.',
  },
  ERR_AR_FILE_EXISTS: {
    exit: EXIT.CANTCREAT,
    summary: 'A file the command would write already exists.',
    hint: 'Pass --force to overwrite it.',
  },
  ERR_AR_STATE_DIR: {
    exit: EXIT.CANTCREAT,
    summary: 'The state directory cannot be created or has unsafe permissions.',
    hint: 'Check the ownership and mode of the directory named; it must be 0700 and owned by the service user.',
  },
  ERR_AR_LEDGER: {
    exit: EXIT.TEMPFAIL,
    summary: 'The SQLite ledger cannot be opened or written.',
    hint: 'Run `agent-runner doctor`; check disk space and the permissions of the state directory.',
  },
  ERR_AR_LEDGER_SCHEMA: {
    exit: EXIT.SOFTWARE,
    summary: 'The ledger was written by a newer agent-runner than this one.',
    hint: 'Upgrade agent-runner on this host (`agent-runner upgrade`), or restore the older ledger.',
  },
  ERR_AR_EVENT_INVALID: {
    exit: EXIT.SOFTWARE,
    summary: 'An event does not match its kind in the event catalogue.',
    hint: 'This is a bug in the emitting process; report it with the event kind named.',
  },
  ERR_AR_IO: {
    exit: EXIT.IOERR,
    summary: 'A file could not be read or written.',
    hint: 'Check the path named, free disk space and permissions.',
  },
  ERR_AR_NO_SPACE: {
    exit: EXIT.TEMPFAIL,
    summary: 'A write failed because its file system is full (ENOSPC, SQLITE_FULL).',
    hint: 'Free space (RUNBOOK.md, "Disk pressure"); `agent-runner doctor` shows the disk. Under systemd the unit is tried again later.',
  },
  ERR_AR_INTERNAL: {
    exit: EXIT.SOFTWARE,
    summary: 'An unexpected internal error.',
    hint: 'This is a bug; report it with the output of `agent-runner doctor --json`.',
  },
  ERR_AR_SSH_HOST_KEY: {
    exit: EXIT.NOPERM,
    summary: 'A remote host presented an SSH host key that known_hosts does not vouch for (changed, revoked, or unknown).',
    hint: 'If the host was really reinstalled, check the new key out of band, then `ssh-keygen -R HOST` and connect once with `ssh HOST` (or pass --accept-new-host-key for a host never seen before). Otherwise treat it as a possible man-in-the-middle.',
  },
  ERR_AR_REMOTE: {
    exit: EXIT.TEMPFAIL,
    summary: 'A remote host could not be polled over SSH (refused, timed out, hung, or its agent-runner failed).',
    hint: 'Check `ssh HOST agent-runner peek --json` by hand; the monitor retries within monitor.remote_failure_tolerance_s.',
  },
  ERR_AR_VCS: {
    exit: EXIT.TEMPFAIL,
    summary: 'A git command of the work-tree hygiene after a round failed.',
    hint: 'Run the git command named in the work dir to see why (a rebase or merge in progress, a stale index.lock, a failing hook, commit signing); fix the work tree, then restart.',
  },
  ERR_AR_SYSTEMD: {
    exit: EXIT.UNAVAILABLE,
    summary: 'systemd (systemctl, loginctl or journalctl) refused or failed a request.',
    hint: 'Read the systemd message quoted; `systemctl [--user] status agent-runner@<project>` and `journalctl [--user] -u agent-runner@<project>` show the unit side. User mode needs a user manager: `sudo loginctl enable-linger $USER`.',
  },
  ERR_AR_NOPERM: {
    exit: EXIT.NOPERM,
    summary: 'The command needs other privileges (root for system units), or refuses to run services as root.',
    hint: 'System mode: `sudo agent-runner install --system` from the account that should run the agent (SUDO_USER), or --run-as USER.',
  },
  ERR_AR_NOT_INSTALLED: {
    exit: EXIT.USAGE,
    summary: 'The project has no systemd units installed in this mode.',
    hint: 'Run `agent-runner install` (user mode) or `sudo agent-runner install --system`; `agent-runner status` shows the detected mode.',
  },
  ERR_AR_UPGRADE: {
    exit: EXIT.TEMPFAIL,
    summary: 'An upgrade could not be carried out (npm failed, the smoke check failed, or the install kind is unknown).',
    hint: 'Read the npm output quoted; the previous version stays in place. `agent-runner upgrade --target <version>` retries or rolls back.',
  },
} as const satisfies Record<string, CodeSpec>;

/** A stable agent-runner error code, such as `ERR_AR_CONFIG_SYNTAX`. */
export type ErrorCode = keyof typeof ERROR_CODES;

/** Where in a file an error was found; line and column are 1-based. */
export interface SourceLocation {
  file: string;
  line?: number;
  column?: number;
}

/** Optional structured context of an {@link AgentRunnerError}. */
export interface ErrorDetails {
  /** The file and position the error is about. */
  location?: SourceLocation;
  /** Dotted key path inside a config or record, such as `runtime.restart_delay_s`. */
  key?: string;
  /** What was expected, in words. */
  expected?: string;
  /** What was found, rendered for humans (already redacted). */
  found?: string;
  /** A hint that replaces the code's default hint. */
  hint?: string;
  /** The underlying error. */
  cause?: unknown;
  /** Further problems found in the same pass (a config check reports them all). */
  more?: AgentRunnerError[];
}

/**
 * The one error type agent-runner throws for conditions an operator must act on.
 * The CLI prints `message` and `hint` and exits with `exitCode`; no stack trace.
 */
export class AgentRunnerError extends Error {
  readonly code: ErrorCode;
  readonly exitCode: ExitCode;
  readonly hint: string;
  readonly location: SourceLocation | undefined;
  readonly key: string | undefined;
  readonly expected: string | undefined;
  readonly found: string | undefined;
  readonly more: AgentRunnerError[];

  constructor(code: ErrorCode, message: string, details: ErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'AgentRunnerError';
    this.code = code;
    this.exitCode = ERROR_CODES[code].exit;
    this.hint = details.hint ?? ERROR_CODES[code].hint;
    this.location = details.location;
    this.key = details.key;
    this.expected = details.expected;
    this.found = details.found;
    this.more = details.more ?? [];
  }

  /** `file:line:col` (as far as known), or undefined. */
  where(): string | undefined {
    const l = this.location;
    if (!l) return undefined;
    return l.line === undefined ? l.file : `${l.file}:${l.line}${l.column === undefined ? '' : `:${l.column}`}`;
  }

  /** A JSON-safe rendering for `--json` output. */
  toJSON(): Record<string, unknown> {
    return {
      code: this.code,
      exit_code: this.exitCode,
      message: this.message,
      ...(this.location ? { file: this.location.file, line: this.location.line, column: this.location.column } : {}),
      ...(this.key !== undefined ? { key: this.key } : {}),
      ...(this.expected !== undefined ? { expected: this.expected } : {}),
      ...(this.found !== undefined ? { found: this.found } : {}),
      hint: this.hint,
      ...(this.more.length ? { more: this.more.map((e) => e.toJSON()) } : {}),
    };
  }
}

/** True when `e` is an {@link AgentRunnerError} (also across duplicate module copies). */
export function isAgentRunnerError(e: unknown): e is AgentRunnerError {
  return e instanceof AgentRunnerError || (e instanceof Error && e.name === 'AgentRunnerError' && 'code' in e);
}

/**
 * The Node system error code of `e`, such as `'ENOENT'` or `'ESRCH'`.
 *
 * @returns `(e as NodeJS.ErrnoException).code` when it is a string; undefined for anything
 *   else (no code, a numeric code, a non-object thrown value). Any string `code` counts, an
 *   {@link AgentRunnerError}'s or a SqliteError's too: compare it with the errno expected.
 */
export function errnoCode(e: unknown): string | undefined {
  if (typeof e !== 'object' || e === null) return undefined;
  const code = (e as NodeJS.ErrnoException).code;
  return typeof code === 'string' ? code : undefined;
}

/**
 * Whether `e` is a Node system error with one of `codes`, for catches that expect one
 * failure and rethrow the rest: `catch (e) { if (!isErrno(e, 'ENOENT')) throw e; ... }`.
 */
export function isErrno(e: unknown, ...codes: string[]): boolean {
  const code = errnoCode(e);
  return code !== undefined && codes.includes(code);
}

/** Renders `docs/errors.md` from {@link ERROR_CODES}. */
export function renderErrorsDoc(): string {
  const rows = Object.entries(ERROR_CODES).map(
    ([code, s]) => `| \`${code}\` | ${s.exit} | ${s.summary} | ${s.hint.replace(/\|/g, '\\|')} |`,
  );
  const exits = Object.entries(EXIT).map(([name, n]) => `| ${n} | ${name} |`);
  return [
    '# Errors and exit codes',
    '',
    '<!-- Generated from packages/core/src/errors.ts by `npm run docs`; do not edit. -->',
    '',
    'Every error agent-runner reports carries a stable code, a message naming the file, line,',
    'key, what was expected and what was found (where known), and a hint. `--json` output',
    'carries the same fields. Exit codes follow sysexits(3).',
    '',
    '## Exit codes',
    '',
    '| code | name |',
    '|---|---|',
    ...exits,
    '',
    '## Error codes',
    '',
    '| code | exit | meaning | what to do |',
    '|---|---|---|---|',
    ...rows,
    '',
  ].join('\n');
}
