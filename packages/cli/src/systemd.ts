import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { userInfo } from 'node:os';
import { AgentRunnerError } from '@agent-runner/core/errors';
import type { ServiceMode } from '@agent-runner/core/paths';
import { DROP_IN, parseMeta, targetDropInPath, unitDir, unitNames, type InstallMeta } from './systemd-render.js';

/** Result of one external command. */
export interface ExecResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Options of {@link execCommand}. */
export interface ExecOptions {
  env: Record<string, string | undefined>;
  /** Kill the command (SIGTERM) after this many ms; the result then has `signal`. */
  timeoutMs?: number;
  /** Kill the command (SIGTERM) when aborted. */
  signal?: AbortSignal;
  /** Receives stdout chunks as they arrive (for `journalctl -f`); stdout is then not collected. */
  onStdout?: (chunk: string) => void;
  cwd?: string;
}

/**
 * Runs a command without a shell and collects its output. Never throws for a non-zero exit;
 * a command that cannot be spawned (ENOENT) resolves with code 127 and the error in stderr.
 */
export function execCommand(cmd: string, args: string[], opts: ExecOptions): Promise<ExecResult> {
  return new Promise((resolve) => {
    const env = Object.fromEntries(Object.entries(opts.env).filter((e): e is [string, string] => e[1] !== undefined));
    const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'], ...(opts.cwd ? { cwd: opts.cwd } : {}) });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (opts.onStdout ? opts.onStdout(d) : (stdout += d)));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = opts.timeoutMs === undefined ? undefined : setTimeout(() => child.kill('SIGTERM'), opts.timeoutMs);
    const onAbort = (): void => void child.kill('SIGTERM');
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    child.on('error', (e) => {
      if (timer) clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      resolve({ code: 127, signal: null, stdout, stderr: `${stderr}${e.message}\n` });
    });
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** The uid of this process (effective), via the passwd lookup libuv does. */
export function currentUser(): { uid: number; gid: number; username: string; homedir: string } {
  const u = userInfo();
  return { uid: u.uid, gid: u.gid, username: u.username, homedir: u.homedir };
}

/**
 * Environment for `systemctl --user` / `journalctl --user`: they reach the user manager over
 * `$XDG_RUNTIME_DIR/bus`, which `sudo`, `su` and ssh without PAM sessions leave unset.
 */
export function managerEnv(scope: ServiceMode, env: Record<string, string | undefined>): Record<string, string | undefined> {
  if (scope === 'system' || env['XDG_RUNTIME_DIR']) return env;
  const dir = `/run/user/${currentUser().uid}`;
  return existsSync(dir) ? { ...env, XDG_RUNTIME_DIR: dir } : env;
}

/** Runs `systemctl [--user] ARGS`. */
export function systemctl(scope: ServiceMode, args: string[], opts: ExecOptions): Promise<ExecResult> {
  return execCommand('systemctl', [...(scope === 'user' ? ['--user'] : []), ...args], { ...opts, env: managerEnv(scope, opts.env) });
}

/** How a project is run on this host. */
export type Manager = { kind: 'systemd'; scope: ServiceMode; meta: InstallMeta; unitDir: string } | { kind: 'foreground' };

/**
 * Finds how `project` is installed: the install metadata in its target drop-in, in the user
 * unit directory first (unless `mode` is system), then the system one. Neither: foreground
 * (serve started by hand; lifecycle verbs then work through the enrollment record).
 */
export function detectManager(project: string, mode: ServiceMode, env: Record<string, string | undefined>): Manager {
  const scopes: ServiceMode[] = mode === 'system' ? ['system'] : ['user', 'system'];
  for (const scope of scopes) {
    const dir = unitDir(scope, env);
    const file = targetDropInPath(dir, project);
    if (!existsSync(file)) continue;
    const meta = parseMeta(readFileSync(file, 'utf8'));
    if (meta) return { kind: 'systemd', scope, meta, unitDir: dir };
  }
  return { kind: 'foreground' };
}

/**
 * Finds the install whose config is `configFile` by reading the install metadata of every
 * project target drop-in (user unit directory first, then the system one): the project name
 * and mode without loading the config, so verbs work when the config no longer loads, and a
 * verb run without `--system` finds a system-mode install.
 * @returns undefined when no install names this config.
 */
export function findInstallByConfig(
  configFile: string,
  env: Record<string, string | undefined>,
): Extract<Manager, { kind: 'systemd' }> | undefined {
  const want = resolve(configFile);
  for (const scope of ['user', 'system'] as const) {
    const dir = unitDir(scope, env);
    let entries: string[];
    try {
      entries = readdirSync(dir);
    } catch {
      continue; // ENOENT mostly: no units of this scope. Every verb finds its mode here, so never throw
    }
    for (const e of entries) {
      if (!/^agent-runner@.+\.target\.d$/.test(e)) continue;
      let text: string;
      try {
        text = readFileSync(join(dir, e, DROP_IN), 'utf8');
      } catch {
        continue; // ENOENT: a target's drop-in directory without ours
      }
      const meta = parseMeta(text);
      if (meta && resolve(meta.config) === want) return { kind: 'systemd', scope, meta, unitDir: dir };
    }
  }
  return undefined;
}

/** The properties `status` reads from `systemctl show` for each unit. */
export const SHOW_PROPS = [
  'Id',
  'LoadState',
  'ActiveState',
  'SubState',
  'UnitFileState',
  'MainPID',
  'ExecMainStatus',
  'ExecMainCode',
  'Result',
  'NRestarts',
  'ActiveEnterTimestamp',
  'InactiveEnterTimestamp',
  'StateChangeTimestamp',
] as const;

/** One unit's state as systemd reports it (`systemctl show`). */
export interface UnitState {
  unit: string;
  load_state: string;
  active_state: string;
  sub_state: string;
  unit_file_state: string;
  /** 0 when not running. */
  main_pid: number;
  /** Exit status of the last main process (an exit code, or a signal number when code is killed/dumped). */
  exec_main_status: number;
  /** Result of the last run: success, exit-code, signal, core-dump, timeout, watchdog, ... */
  result: string;
  /** Restarts systemd made since the unit was last started by hand. */
  n_restarts: number;
  /** ISO time of the last change of the active state, or null. */
  since: string | null;
}

/**
 * Parses `systemctl show --timestamp=unix -p ... UNIT...` output: one block of `Key=Value`
 * lines per unit, blocks separated by a blank line (systemctl(1) "show").
 */
export function parseShow(text: string): UnitState[] {
  const blocks = text.split(/\n\s*\n/).filter((b) => b.trim());
  return blocks.map((b) => {
    const kv = new Map<string, string>();
    for (const line of b.split('\n')) {
      const i = line.indexOf('=');
      if (i > 0) kv.set(line.slice(0, i), line.slice(i + 1));
    }
    const ts = (k: string): string | null => {
      const m = /^@(\d+)$/.exec(kv.get(k) ?? '');
      return m && m[1] !== '0' ? new Date(Number(m[1]) * 1000).toISOString() : null;
    };
    return {
      unit: kv.get('Id') ?? '',
      load_state: kv.get('LoadState') ?? '',
      active_state: kv.get('ActiveState') ?? '',
      sub_state: kv.get('SubState') ?? '',
      unit_file_state: kv.get('UnitFileState') ?? '',
      main_pid: Number(kv.get('MainPID') ?? 0) || 0,
      exec_main_status: Number(kv.get('ExecMainStatus') ?? 0) || 0,
      result: kv.get('Result') ?? '',
      n_restarts: Number(kv.get('NRestarts') ?? 0) || 0,
      since: ts('StateChangeTimestamp') ?? ts('ActiveEnterTimestamp') ?? ts('InactiveEnterTimestamp'),
    };
  });
}

/**
 * Asks systemd for the state of `units`, in order.
 * @throws AgentRunnerError ERR_AR_SYSTEMD when `systemctl show` fails (its stderr quoted).
 */
export async function showUnits(scope: ServiceMode, units: string[], env: Record<string, string | undefined>): Promise<UnitState[]> {
  const r = await systemctl(scope, ['show', '--timestamp=unix', ...SHOW_PROPS.map((p) => `--property=${p}`), ...units], { env });
  if (r.code !== 0)
    throw new AgentRunnerError(
      'ERR_AR_SYSTEMD',
      `systemctl${scope === 'user' ? ' --user' : ''} show failed: ${r.stderr.trim() || `exit ${r.code}`}`,
    );
  return parseShow(r.stdout);
}

/** The service units and the target of an installed project. */
export function projectUnits(meta: InstallMeta): { services: string[]; serve: string; target: string } {
  const names = unitNames(meta.project);
  return { services: meta.units, serve: names.serve, target: names.target };
}
