import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Absolute path of the built CLI entry (`packages/cli/dist/bin.js`). */
export const CLI_BIN = fileURLToPath(new URL('../../cli/dist/bin.js', import.meta.url));

/** A throw-away project: a git work tree with its own HOME so state never leaks between tests. */
export interface TempProject {
  /** The git work tree (and HOME/project). */
  dir: string;
  /** HOME of this project's processes (state lands in `$HOME/.local/state/agent-runner/...`). */
  home: string;
  /** Environment for CLI processes: HOME and XDG set into the sandbox, PATH kept. */
  env: Record<string, string>;
  /** Writes a file relative to the work tree, creating directories. */
  write(rel: string, text: string, mode?: number): string;
  /** Runs git in the work tree and returns stdout. */
  git(...args: string[]): string;
  /** Removes everything. */
  cleanup(): void;
}

/**
 * Creates a temp dir with HOME and a git work tree named `name` (one initial commit).
 * @param files files to create before the initial commit, relative to the work tree; files
 *   starting with `#!` are created executable.
 */
export function tempProject(name = 'proj', files: Record<string, string> = {}, opts: { git?: boolean } = {}): TempProject {
  const root = mkdtempSync(join(tmpdir(), 'ar-test-'));
  const home = join(root, 'home');
  const dir = join(root, name);
  mkdirSync(home, { recursive: true });
  mkdirSync(dir, { recursive: true });
  const env: Record<string, string> = {
    HOME: home,
    PATH: process.env['PATH'] ?? '/usr/bin:/bin',
    LANG: 'C.UTF-8',
    GIT_AUTHOR_NAME: 'test',
    GIT_AUTHOR_EMAIL: 'test@example.invalid',
    GIT_COMMITTER_NAME: 'test',
    GIT_COMMITTER_EMAIL: 'test@example.invalid',
  };
  const git = (...args: string[]): string => execFileSync('git', args, { cwd: dir, env, encoding: 'utf8' });
  const write = (rel: string, text: string, mode?: number): string => {
    const p = join(dir, rel);
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, text, mode === undefined ? {} : { mode });
    return p;
  };
  // Scripts (a `#!` first line) are made executable before the initial commit.
  for (const [rel, text] of Object.entries(files)) write(rel, text, text.startsWith('#!') ? 0o755 : undefined);
  if (opts.git !== false) {
    git('init', '-q', '-b', 'main');
    git('add', '-A');
    git('commit', '-q', '--allow-empty', '-m', 'initial');
  }
  return { dir, home, env, write, git, cleanup: () => rmSync(root, { recursive: true, force: true }) };
}

/** Result of one CLI run. */
export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs the built CLI as a real child process.
 * @param timeoutMs kills it (SIGKILL) after this long; the result then has signal SIGKILL.
 */
export function runCli(
  args: string[],
  opts: { cwd: string; env: Record<string, string>; input?: string; timeoutMs?: number },
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI_BIN, ...args], { cwd: opts.cwd, env: opts.env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 30_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
    child.stdin.end(opts.input ?? '');
  });
}
