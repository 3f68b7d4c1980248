/**
 * Starting the agent CLI for one round, as the leader of its own session and process group,
 * with its output as one ordered byte stream.
 *
 * - `pipe`: child_process.spawn with `detached: true` (setsid(2) in the child). stdout and
 *   stderr are ONE pipe: the agent is started through `/bin/sh -c 'exec "$@" 2>&1'`, which
 *   replaces itself with the agent (same pid) after dup'ing stderr onto stdout, so the log
 *   holds both streams in the exact order the agent wrote them (two pipes can only be
 *   interleaved approximately). stdin is the prompt (stdin delivery) or /dev/null (argv
 *   delivery: CLIs such as `claude -p` otherwise wait for stdin to close).
 * - `pty`: node-pty (forkpty(3): setsid + login_tty in the child), raw bytes (no decoding).
 *   stdin delivery has two methods, see {@link PtyStdinMethod}.
 *
 * The executable is resolved on the caller's PATH before anything is started, so a missing
 * CLI is a clear configuration error instead of an exit code 127 from a shell.
 */
import { spawn as spawnChild } from 'node:child_process';
import { accessSync, constants as fsConstants, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { constants as osConstants, tmpdir } from 'node:os';
import { delimiter, isAbsolute, join, resolve } from 'node:path';
import { AgentRunnerError } from '@agent-runner/core/errors';
import { readProcStat } from '@agent-runner/core/identity';

/** How the prompt reaches the agent. */
export type PromptDelivery =
  /** `template` is appended to argv with every `{prompt}` replaced by the prompt text. */
  | { mode: 'argv'; template: string[] }
  /** The prompt is the agent's whole stdin, then EOF; keeps it out of `ps` and `pkill -f`. */
  | { mode: 'stdin' };

/**
 * How stdin delivery works in a PTY.
 *
 * - `file` (default): the prompt is written to a private temp file, and the agent's stdin
 *   is that file (stdout/stderr stay on the terminal), opened by a `/bin/sh` that then
 *   removes it and execs the agent. Exact bytes, any size, no echo, immediate EOF — like
 *   `agent < prompt.md` typed in a terminal.
 * - `type`: the prompt is typed into the terminal, followed by ^D on its own line. Needed
 *   only by a CLI that insists on a terminal stdin. Measured with `cat` on Linux: the
 *   canonical-mode line discipline keeps at most 4095 bytes of a line (the rest is silently
 *   dropped) and echoes input into the output unless echo is off, and control characters
 *   act (^C interrupts, ^D ends input early, ^U erases the line). So this method turns echo
 *   off with `stty -F <pts> -echo` before typing, appends a newline if the prompt lacks
 *   one (^D only means EOF at the start of a line), and rejects prompts with lines of 4095
 *   bytes or more, or with control characters other than tab and newline.
 */
export type PtyStdinMethod = 'file' | 'type';

/** Options of {@link spawnAgent}. */
export interface SpawnAgentOptions {
  /** The agent's argv; argv[0] is looked up on `env.PATH` (or relative to `cwd` if it has a `/`). */
  argv: string[];
  /** Working directory (the project work tree). */
  cwd: string;
  /** The agent's whole environment (see {@link agentEnv}); undefined values are dropped. */
  env: Record<string, string | undefined>;
  delivery: PromptDelivery;
  prompt: string;
  terminal: 'pty' | 'pipe';
  /**
   * Terminal size for `pty` (default 200 x 50). TERM is `env.TERM`, else `xterm-256color`
   * (services run without TERM; CLIs then assume a dumb terminal or refuse colours/TUI).
   */
  cols?: number;
  rows?: number;
  /** Default `file`. */
  ptyStdin?: PtyStdinMethod;
  /** Where the `file` method puts its temp file (default os.tmpdir()). */
  tmpDir?: string;
  /** POSIX shell used for the exec wrappers (default /bin/sh). */
  shell?: string;
}

/** How the agent process itself ended. */
export interface AgentExit {
  /** Exit status, or null when a signal ended it. */
  exitCode: number | null;
  /** Signal name (`SIGTERM`), or null. */
  signal: string | null;
}

/** A running agent. */
export interface AgentHandle {
  readonly pid: number;
  /** Its process group and session id; equal to pid by construction (setsid). */
  readonly pgid: number;
  /**
   * The leader's start time (field 22 of /proc/PID/stat, clock ticks after boot), read right
   * after the spawn: with pgid it identifies the round's group to a later serve. Undefined
   * when /proc could not tell (the agent already gone and reaped, /proc unreadable).
   */
  readonly starttimeTicks: number | undefined;
  readonly terminal: 'pty' | 'pipe';
  /** The argv executed (argv[0] resolved to a path, `{prompt}` substituted). */
  readonly argv: string[];
  /**
   * Subscribes to output chunks in arrival order: Buffers of raw bytes. Chunks that arrive
   * before the first subscriber are kept and handed to it.
   * @returns a function that unsubscribes.
   */
  onData(cb: (chunk: Buffer | string) => void): () => void;
  /** Resolves when the agent process (the leader) has exited; its group may live on. */
  readonly exited: Promise<AgentExit>;
  /**
   * Resolves when the output stream has ended: every holder of the pipe (or terminal) has
   * closed it. May never resolve if a process escaped the group holding it; use
   * {@link dispose} after a timeout then.
   */
  readonly closed: Promise<void>;
  /** Writes to the terminal (`pty` only); undefined with pipes, whose stdin is closed. */
  readonly writeStdin?: (data: string | Buffer) => void;
  /** Stops reading and releases our end of the pipe or terminal. Idempotent. */
  dispose(): void;
}

/** Environment variables the runner gives every round. */
export interface AgentEnvInfo {
  /** The project's log directory (where `.agent-done` goes). */
  logDir: string;
  round: number;
  /** Omitted (and removed from `base`) when the project has no phases. */
  phase?: string;
  project: string;
}

/**
 * Variables never passed to the agent: systemd's notify and socket-activation handles belong
 * to the runner's unit; an agent inheriting NOTIFY_SOCKET could feed the unit's watchdog.
 */
const WITHHELD = ['NOTIFY_SOCKET', 'WATCHDOG_PID', 'WATCHDOG_USEC', 'LISTEN_PID', 'LISTEN_FDS', 'LISTEN_FDNAMES'];

/**
 * The agent's environment: `base` (without undefined values and the systemd handles listed
 * above) plus AGENT_RUNNER_LOG_DIR, AGENT_RUNNER_ROUND, AGENT_RUNNER_PHASE (only when a
 * phase is set; an inherited value is removed otherwise) and AGENT_RUNNER_PROJECT.
 */
export function agentEnv(base: Record<string, string | undefined>, info: AgentEnvInfo): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(base)) if (v !== undefined) env[k] = v;
  for (const k of WITHHELD) delete env[k];
  env.AGENT_RUNNER_LOG_DIR = info.logDir;
  env.AGENT_RUNNER_ROUND = String(info.round);
  if (info.phase !== undefined) env.AGENT_RUNNER_PHASE = info.phase;
  else delete env.AGENT_RUNNER_PHASE;
  env.AGENT_RUNNER_PROJECT = info.project;
  return env;
}

function isExecutableFile(p: string): boolean {
  try {
    if (!statSync(p).isFile()) return false;
    accessSync(p, fsConstants.X_OK);
    return true;
  } catch {
    return false; // ENOENT, EACCES, ENOTDIR: not runnable, the PATH search goes on
  }
}

/**
 * Finds an executable the way execvp(3) does: a name with a `/` is taken as a path
 * (relative to `cwd`), anything else is searched in `pathVar` (empty entries mean `cwd`).
 * @returns the absolute path, or undefined when there is no executable regular file.
 */
export function resolveExecutable(name: string, pathVar: string | undefined, cwd: string): string | undefined {
  if (name === '') return undefined;
  if (name.includes('/')) {
    const p = isAbsolute(name) ? name : resolve(cwd, name);
    return isExecutableFile(p) ? p : undefined;
  }
  for (const dir of (pathVar ?? '').split(delimiter)) {
    const p = resolve(cwd, dir === '' ? '.' : dir, name);
    if (isExecutableFile(p)) return p;
  }
  return undefined;
}

/** Linux MAX_ARG_STRLEN: one argv string including its NUL may not exceed 32 pages. */
export const MAX_ARG_BYTES = 131072 - 1;
/** Longest line the Linux canonical-mode terminal keeps (N_TTY_BUF_SIZE - 1, newline included). */
const MAX_CANON_LINE = 4095;

function semantic(message: string, hint?: string): AgentRunnerError {
  return new AgentRunnerError('ERR_AR_CONFIG_SEMANTIC', message, hint === undefined ? {} : { hint });
}

/** The argv with `{prompt}` substituted; validates what execve(2) would reject. */
function buildArgv(exe: string, opts: SpawnAgentOptions): string[] {
  const args = opts.argv.slice(1);
  if (opts.delivery.mode === 'argv') {
    if (opts.prompt.includes('\0')) throw semantic('the prompt contains a NUL byte, which argv cannot carry', 'Use stdin delivery.');
    for (const t of opts.delivery.template) args.push(t.split('{prompt}').join(opts.prompt));
  }
  for (const a of args) {
    const n = Buffer.byteLength(a, 'utf8');
    if (n > MAX_ARG_BYTES) {
      throw semantic(
        `an agent argument is ${n} bytes; Linux allows at most ${MAX_ARG_BYTES} bytes per argument`,
        'Switch the agent to stdin prompt delivery (prompt_delivery = "stdin"), or shorten the prompt.',
      );
    }
  }
  return [exe, ...args];
}

function starttimeOf(pid: number): number | undefined {
  try {
    return readProcStat(pid)?.starttimeTicks;
  } catch {
    return undefined; // ERR_AR_IO, procfs unreadable: no start time beats a throw in a spawn callback
  }
}

function signalName(n: number): string {
  for (const [name, num] of Object.entries(osConstants.signals)) if (num === n) return name;
  return `SIG${n}`;
}

/** Fan-out of output chunks with a backlog until the first subscriber. */
class DataHub {
  private listeners: ((c: Buffer | string) => void)[] = [];
  private backlog: (Buffer | string)[] | undefined = [];
  emit(c: Buffer | string): void {
    if (this.backlog) this.backlog.push(c);
    else for (const l of this.listeners) l(c);
  }
  subscribe(cb: (c: Buffer | string) => void): () => void {
    this.listeners.push(cb);
    const b = this.backlog;
    if (b) {
      this.backlog = undefined;
      for (const c of b) for (const l of this.listeners) l(c);
    }
    return () => {
      this.listeners = this.listeners.filter((l) => l !== cb);
    };
  }
}

/**
 * Starts the agent. Resolves once the process exists (for pipes: after a successful exec).
 *
 * @throws AgentRunnerError ERR_AR_CONFIG_SEMANTIC when the executable is not found on PATH
 *   ("agent executable not found on PATH: X"), the work dir is missing, an argv argument is
 *   too long for Linux, or a `type` PTY prompt cannot be typed; ERR_AR_IO when the process
 *   cannot be started (fork/exec failure, temp file).
 */
export async function spawnAgent(opts: SpawnAgentOptions): Promise<AgentHandle> {
  const argv0 = opts.argv[0];
  if (argv0 === undefined) throw semantic('agent command is empty');
  try {
    if (!statSync(opts.cwd).isDirectory()) throw new Error('not a directory');
  } catch {
    // ENOENT, ENOTDIR, EACCES or not a directory: each a config problem the operator fixes.
    throw semantic(`agent work dir does not exist or is not a directory: ${opts.cwd}`);
  }
  const exe = resolveExecutable(argv0, opts.env.PATH, opts.cwd);
  if (exe === undefined) {
    throw semantic(
      `agent executable not found on PATH: ${argv0}`,
      `Install it, or fix PATH in the service environment (PATH=${opts.env.PATH ?? ''}).`,
    );
  }
  const argv = buildArgv(exe, opts);
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(opts.env)) if (v !== undefined) env[k] = v;
  return opts.terminal === 'pty' ? spawnPty(argv, env, opts) : spawnPipe(argv, env, opts);
}

function spawnPipe(argv: string[], env: Record<string, string>, opts: SpawnAgentOptions): Promise<AgentHandle> {
  const shell = opts.shell ?? '/bin/sh';
  const stdinMode = opts.delivery.mode === 'stdin' ? 'pipe' : 'ignore';
  const child = spawnChild(shell, ['-c', 'exec "$@" 2>&1', 'agent-runner', ...argv], {
    cwd: opts.cwd,
    env,
    detached: true,
    stdio: [stdinMode, 'pipe', 'pipe'],
  });
  const hub = new DataHub();
  // Before exec, the wrapper's own complaints go to the stderr pipe; after it, nothing does.
  child.stdout?.on('data', (c: Buffer) => hub.emit(c));
  child.stderr?.on('data', (c: Buffer) => hub.emit(c));
  const exited = new Promise<AgentExit>((res) => {
    child.once('exit', (code, signal) => res({ exitCode: code, signal }));
  });
  const ended = (s: NodeJS.ReadableStream | null): Promise<void> =>
    s ? new Promise((res) => s.once('close', () => res())) : Promise.resolve();
  const closed = Promise.all([ended(child.stdout), ended(child.stderr)]).then(() => undefined);
  return new Promise((res, rej) => {
    child.once('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'E2BIG') {
        rej(semantic('agent argument list too long for execve(2)', 'Switch the agent to stdin prompt delivery.'));
      } else {
        rej(new AgentRunnerError('ERR_AR_IO', `cannot start the agent via ${shell}: ${e.message}`, { cause: e }));
      }
    });
    child.once('spawn', () => {
      // Later 'error' events (a failed kill) must not become uncaught exceptions.
      child.on('error', () => undefined);
      const pid = child.pid as number;
      // Before any await: node reaps the child only in a later turn of the loop.
      const starttimeTicks = starttimeOf(pid);
      if (child.stdin) {
        // An agent that exits without reading its stdin closes the pipe: not our error.
        child.stdin.on('error', () => undefined);
        child.stdin.end(opts.prompt);
      }
      res({
        pid,
        pgid: pid,
        starttimeTicks,
        terminal: 'pipe',
        argv,
        onData: (cb) => hub.subscribe(cb),
        exited,
        closed,
        dispose: () => {
          child.stdout?.destroy();
          child.stderr?.destroy();
          child.stdin?.destroy();
        },
      });
    });
  });
}

/** node-pty's terminal with the members its typings leave out (present on Linux). */
interface UnixPty {
  readonly pid: number;
  readonly ptsName: string;
  onData(cb: (d: Buffer | string) => void): unknown;
  onExit(cb: (e: { exitCode: number; signal?: number }) => void): unknown;
  write(d: string | Buffer): void;
  destroy(): void;
  on(event: 'error', cb: (e: Error) => void): unknown;
}

function checkTypeable(prompt: string): void {
  if (/[\x00-\x08\x0b-\x1f\x7f]/.test(prompt)) {
    throw semantic('the prompt contains control characters, which a terminal would act on when typed', 'Use ptyStdin "file", or pipes.');
  }
  for (const line of prompt.split('\n')) {
    if (Buffer.byteLength(line, 'utf8') >= MAX_CANON_LINE) {
      throw semantic(
        `a prompt line is ${Buffer.byteLength(line, 'utf8')} bytes; a terminal keeps at most ${MAX_CANON_LINE - 1} bytes of a typed line`,
        'Use ptyStdin "file", or pipes.',
      );
    }
  }
}

async function spawnPty(argv: string[], env: Record<string, string>, opts: SpawnAgentOptions): Promise<AgentHandle> {
  const pty = await import('node-pty');
  const method: PtyStdinMethod = opts.ptyStdin ?? 'file';
  const stdin = opts.delivery.mode === 'stdin';
  if (stdin && method === 'type') checkTypeable(opts.prompt);
  let tmp: string | undefined;
  let file = argv[0] as string;
  let args = argv.slice(1);
  if (stdin && method === 'file') {
    try {
      tmp = mkdtempSync(join(opts.tmpDir ?? tmpdir(), 'agent-runner-prompt-'));
      const pf = join(tmp, 'prompt');
      writeFileSync(pf, opts.prompt, { mode: 0o600 });
      file = opts.shell ?? '/bin/sh';
      // The shell opens the prompt as stdin, unlinks it, and becomes the agent (same pid).
      args = ['-c', 'f=$1; shift; exec <"$f" || exit 126; rm -f -- "$f"; exec "$@"', 'agent-runner', pf, ...argv];
    } catch (e) {
      if (tmp) rmSync(tmp, { recursive: true, force: true });
      throw new AgentRunnerError('ERR_AR_IO', `cannot write the prompt temp file: ${(e as Error).message}`, { cause: e });
    }
  }
  let term: UnixPty;
  try {
    term = pty.spawn(file, args, {
      name: env.TERM ?? 'xterm-256color',
      cols: opts.cols ?? 200,
      rows: opts.rows ?? 50,
      cwd: opts.cwd,
      env,
      encoding: null,
    }) as unknown as UnixPty;
  } catch (e) {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
    throw new AgentRunnerError('ERR_AR_IO', `cannot start the agent in a terminal: ${(e as Error).message}`, { cause: e });
  }
  // node-pty reaps in a thread of its own, so read it before anything else.
  const starttimeTicks = starttimeOf(term.pid);
  const hub = new DataHub();
  term.on('error', () => undefined); // EIO at hang-up is the normal end of a terminal
  term.onData((d) => hub.emit(typeof d === 'string' ? d : Buffer.from(d)));
  let hasExited = false;
  // node-pty reports the exit only after the terminal's output is drained (or 200 ms after
  // the leader's death when a survivor holds the terminal open).
  const exited = new Promise<AgentExit>((res) => {
    term.onExit(({ exitCode, signal }) => {
      hasExited = true;
      if (tmp) rmSync(tmp, { recursive: true, force: true });
      res(signal ? { exitCode: null, signal: signalName(signal) } : { exitCode, signal: null });
    });
  });
  if (stdin && method === 'type') {
    try {
      execFileSync('stty', ['-F', term.ptsName, '-echo'], { stdio: 'ignore', timeout: 5000 });
    } catch (e) {
      term.destroy();
      throw new AgentRunnerError('ERR_AR_IO', `cannot turn off terminal echo with stty: ${(e as Error).message}`, { cause: e });
    }
    term.write(opts.prompt.endsWith('\n') ? opts.prompt : `${opts.prompt}\n`);
    term.write('\x04');
  }
  return {
    pid: term.pid,
    pgid: term.pid,
    starttimeTicks,
    terminal: 'pty',
    argv,
    onData: (cb) => hub.subscribe(cb),
    exited,
    closed: exited.then(() => undefined),
    writeStdin: (d) => term.write(d),
    dispose: () => {
      if (!hasExited) term.destroy();
    },
  };
}
