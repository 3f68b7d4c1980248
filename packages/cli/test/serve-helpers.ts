import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { CLI_BIN, tempProject, type TempProject } from '@agent-runner/testkit/project';
import { until } from '@agent-runner/testkit/until';

/** A project whose agent is `agent.sh` (a real shell script), generic preset with test patterns. */
export function agentProject(agentScript: string, runtime = '', extra = ''): TempProject & { stateDir: string } {
  const p = tempProject('proj', {
    'agent.sh': `#!/bin/sh\n${agentScript}\n`,
    'PROMPT.md': '---\nnote: stripped\n---\nDo the next step.\n',
    '.gitignore': '/.state/\n',
    'agent-runner.toml': `[agent]
command = ["./agent.sh"]
prompt_delivery = "stdin"
[agent.patterns]
result = ["^RESULT"]
rate_limit = ["^RATE LIMITED"]
auth = ["^AUTH FAILED"]
[prompt]
file = "PROMPT.md"
[runtime]
state_dir = ".state"
restart_delay_s = 0
kill_grace_s = 1
max_grace_after_result_s = 1
${runtime}
[runtime.backoff]
base_s = 30
max_s = 60
jitter_s = 0
${extra}`,
  });
  return { ...p, stateDir: join(p.dir, '.state') };
}

/** A running `agent-runner serve` child. */
export interface ServeChild {
  child: ChildProcess;
  stderr(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; atMs: number }>;
}

/**
 * Starts `agent-runner serve ARGS` in the project.
 * @param wrap turns the command line into the one to spawn (e.g. {@link SmallDisk.command}).
 */
export function startServe(p: TempProject, args: string[] = [], wrap: (argv: string[]) => string[] = (a) => a): ServeChild {
  const [cmd, ...rest] = wrap([process.execPath, CLI_BIN, 'serve', ...args]) as [string, ...string[]];
  const child = spawn(cmd, rest, { cwd: p.dir, env: p.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (err += d));
  child.stdout?.resume();
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; atMs: number }>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal, atMs: Date.now() })),
  );
  return { child, stderr: () => err, exited };
}

/** All events of the project, oldest first. */
export function readEvents(stateDir: string): Array<Record<string, unknown>> {
  const dir = join(stateDir, 'logs', 'events');
  let files: string[];
  try {
    files = readdirSync(dir)
      .filter((f) => f.endsWith('.jsonl'))
      .sort();
  } catch {
    return [];
  }
  return files.flatMap((f) =>
    readFileSync(join(dir, f), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>),
  );
}

/** Runs a read-only query on a SQLite file and returns its rows. */
export type Query = (dbFile: string, sql: string) => Array<Record<string, unknown>>;

/** {@link Query} in this process. */
export const localQuery: Query = (dbFile, sql) => {
  const db = new Database(dbFile, { readonly: true });
  try {
    return db.prepare(sql).all() as Array<Record<string, unknown>>;
  } finally {
    db.close();
  }
};

/** Rows of the ledger's `rounds` table; none while there is no ledger yet. */
export function readRounds(stateDir: string, query: Query = localQuery): Array<Record<string, unknown>> {
  if (!existsSync(join(stateDir, 'ledger.sqlite3'))) return [];
  try {
    return query(join(stateDir, 'ledger.sqlite3'), 'SELECT * FROM rounds ORDER BY round');
  } catch (e) {
    // The file exists a moment before its first migration commits.
    if (/no such table/.test((e as Error).message)) return [];
    throw e;
  }
}

/** Rows of the ledger's `outbox` table (kind, severity, title, body, payload parsed), oldest first. */
export function readOutbox(
  stateDir: string,
  query: Query = localQuery,
): Array<{ kind: string; severity: string; title: string; body: string; idempotency_key: string; payload: Record<string, unknown> }> {
  const rows = query(
    join(stateDir, 'ledger.sqlite3'),
    'SELECT kind, severity, title, body, idempotency_key, payload FROM outbox ORDER BY id',
  );
  return rows.map((r) => ({
    kind: String(r['kind']),
    severity: String(r['severity']),
    title: String(r['title']),
    body: String(r['body']),
    idempotency_key: String(r['idempotency_key']),
    payload: JSON.parse(String(r['payload'] ?? '{}')) as Record<string, unknown>,
  }));
}

/** The outbox rows of one alarm cause, split into alarms and recoveries. */
export function alarmsOf(
  stateDir: string,
  cause: string,
  query: Query = localQuery,
): { alarms: ReturnType<typeof readOutbox>; recoveries: ReturnType<typeof readOutbox> } {
  const rows = readOutbox(stateDir, query).filter((r) => r.kind === cause);
  return { alarms: rows.filter((r) => r.payload['phase'] === 'alarm'), recoveries: rows.filter((r) => r.payload['phase'] === 'recovery') };
}

/** A JSON file of the state's run dir (`heartbeat-runner.json`, `exit-runner.json`, ...), or undefined. */
export function runFile(stateDir: string, name: string): Record<string, unknown> | undefined {
  try {
    return JSON.parse(readFileSync(join(stateDir, 'run', name), 'utf8')) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

/**
 * A small file system to fill: a tmpfs of `sizeMiB` mounted over `dir` in a mount namespace of
 * its own (util-linux `unshare`; as root, or in a user namespace otherwise), held open by a
 * sleeping process so it outlives the processes run in it. Nothing changes outside it.
 */
export interface SmallDisk {
  /** The holder's pid. */
  pid: number;
  /** `path` as seen inside the namespace, readable and writable from outside (`/proc/PID/root/...`). */
  view(path: string): string;
  /** `argv` run inside the namespace in the directory `cwd` (`nsenter`), for {@link startServe}'s `wrap`. */
  command(cwd: string): (argv: string[]) => string[];
  /**
   * {@link Query} run inside the namespace (SQLite resolves the `/proc/PID/root` link of
   * {@link view} to a path outside it, so the ledger is read by a short node process in there).
   */
  query: Query;
  /** Ends the holder; the tmpfs goes with the namespace. */
  close(): void;
}

/** Mounts a {@link SmallDisk} over the existing directory `dir`. */
export async function smallDisk(dir: string, sizeMiB: number): Promise<SmallDisk> {
  const root = process.getuid?.() === 0;
  const holder = spawn(
    'unshare',
    [
      ...(root ? [] : ['--user', '--map-root-user']),
      '--mount',
      '--propagation',
      'private',
      'sh',
      '-c',
      'mount -t tmpfs -o "size=$1m,mode=0700" tmpfs "$2" && echo ready && exec sleep 3600',
      'sh',
      String(sizeMiB),
      dir,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  holder.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  holder.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
  const exited = new Promise<void>((resolve) => holder.on('close', () => resolve()));
  await Promise.race([
    until('the tmpfs mount', () => out.includes('ready'), 10_000),
    exited.then(() => Promise.reject(new Error(`unshare failed: ${out}`))),
  ]);
  const pid = holder.pid as number;
  const enter = ['-t', String(pid), '-m', ...(root ? [] : ['-U', '--preserve-credentials'])];
  const sqlite = createRequire(import.meta.url).resolve('better-sqlite3');
  const script = `const D = require(${JSON.stringify(sqlite)}); const db = new D(process.argv[1], { readonly: true }); process.stdout.write(JSON.stringify(db.prepare(process.argv[2]).all()));`;
  return {
    pid,
    view: (path) => `/proc/${pid}/root${path}`,
    command: (cwd) => (argv) => ['nsenter', ...enter, `--wd=${cwd}`, '--', ...argv],
    query: (dbFile, sql) => {
      const inside = dbFile.startsWith(`/proc/${pid}/root/`) ? dbFile.slice(`/proc/${pid}/root`.length) : dbFile;
      return JSON.parse(
        execFileSync('nsenter', [...enter, '--', process.execPath, '-e', script, inside, sql], { encoding: 'utf8' }),
      ) as Array<Record<string, unknown>>;
    },
    close: () => holder.kill('SIGKILL'),
  };
}
