/**
 * systemd's own view of a target unit, read with `systemctl [--user] show` (unprivileged: it
 * works for the service user of a system-mode install), and what it means for the watchdog.
 * Property names and values are systemd's (org.freedesktop.systemd1(5)).
 */
import { execFile } from 'node:child_process';
import { EXIT, SERVE_FINAL_EXITS } from '@agent-runner/core/errors';

/** The properties read: enough to tell running, starting, restarting, stopped and gone apart. */
export const SHOW_PROPERTIES = [
  'LoadState',
  'ActiveState',
  'SubState',
  'Result',
  'ExecMainCode',
  'ExecMainStatus',
  'MainPID',
  'NRestarts',
  'ActiveEnterTimestampMonotonic',
  'UnitFileState',
  'WantedBy',
  'RequiredBy',
] as const;

/** One unit as systemd sees it. */
export interface SystemdView {
  unit: string;
  /** `loaded`, `not-found`, `masked`, `error`, ... */
  loadState: string;
  /** `active`, `reloading`, `inactive`, `failed`, `activating`, `deactivating`. */
  activeState: string;
  /** Type-specific: `running`, `auto-restart`, `start`, `stop-sigterm`, `dead`, `failed`, ... */
  subState: string;
  /** Outcome of the last run: `success`, `exit-code`, `signal`, `core-dump`, `watchdog`, `timeout`, ... */
  result: string;
  /** How the main process ended (siginfo si_code): 0 none yet, 1 exited, 2 killed, 3 dumped. */
  execMainCode: number;
  /** Its exit status, or the signal number when killed. */
  execMainStatus: number;
  /** 0 when no main process runs. */
  mainPid: number;
  /** Restarts systemd made since the unit was last started by hand. */
  nRestarts: number;
  /** When the unit last became active, CLOCK_MONOTONIC µs (0: never). */
  activeEnterMonoUs: number;
  /** `enabled`, `disabled`, `static`, ... (a template instance pulled in by a target is `disabled`). */
  unitFileState: string;
  /** Units that want or require this one (the project target, once installed). */
  wantedBy: string[];
}

/** CLD_EXITED: ExecMainStatus is an exit status. */
const CLD_EXITED = 1;

/** Exit statuses of a deliberate stop: done, or one of serve's final exits (69, 77, 78). */
export const ON_PURPOSE_EXITS: readonly number[] = [EXIT.OK, ...SERVE_FINAL_EXITS];

/**
 * Parses `systemctl show -p ...` output (`Key=value` lines) for `unit`.
 * @returns undefined when the output has no `LoadState` (not systemctl show output).
 */
export function parseSystemdShow(unit: string, text: string): SystemdView | undefined {
  const kv = new Map<string, string>();
  for (const line of text.split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) kv.set(line.slice(0, i), line.slice(i + 1));
  }
  const loadState = kv.get('LoadState');
  if (loadState === undefined || loadState === '') return undefined;
  const n = (k: string): number => {
    const v = Number(kv.get(k) ?? '');
    return Number.isFinite(v) ? v : 0;
  };
  const list = (k: string): string[] => (kv.get(k) ?? '').split(' ').filter((x) => x !== '');
  return {
    unit,
    loadState,
    activeState: kv.get('ActiveState') ?? '',
    subState: kv.get('SubState') ?? '',
    result: kv.get('Result') ?? '',
    execMainCode: n('ExecMainCode'),
    execMainStatus: n('ExecMainStatus'),
    mainPid: n('MainPID'),
    nRestarts: n('NRestarts'),
    activeEnterMonoUs: n('ActiveEnterTimestampMonotonic'),
    unitFileState: kv.get('UnitFileState') ?? '',
    wantedBy: [...list('WantedBy'), ...list('RequiredBy')],
  };
}

/** Reads systemd's view of a unit; undefined when systemctl fails or times out. */
export type SystemdShow = (unit: string, user: boolean) => Promise<SystemdView | undefined>;

/**
 * The {@link SystemdShow} that runs `systemctl [--user] show -p P1,P2,... UNIT` (at most
 * `timeoutMs`, default 10 s, so a stuck bus never stalls the probe loop).
 */
export function systemctlShow(env: Record<string, string | undefined>, timeoutMs = 10_000): SystemdShow {
  return (unit, user) =>
    new Promise((resolve) => {
      const args = [...(user ? ['--user'] : []), 'show', '-p', SHOW_PROPERTIES.join(','), unit];
      execFile('systemctl', args, { env: env as NodeJS.ProcessEnv, timeout: timeoutMs }, (err, out) => {
        resolve(err ? undefined : parseSystemdShow(unit, String(out)));
      });
    });
}

/**
 * What systemd's state tells the watchdog:
 * - `absent`: the unit is not installed (`LoadState` not `loaded`): not expected here.
 * - `unwanted`: loaded (a template instance always is) but inactive and neither enabled nor
 *   wanted by another unit (the project target wants what `install` installed): not expected.
 * - `busy`: activating (a `Type=notify` unit until `READY=1`, or waiting to restart:
 *   `auto-restart`), deactivating or reloading: systemd is on it.
 * - `stopped`: inactive or failed after a deliberate stop (`Result=success`: an operator's stop,
 *   a clean exit; or exit 0, 69, 77, 78).
 * - `dead`: inactive or failed after a failure systemd does not restart, while something
 *   wants the unit: only a human can start it again.
 * - `running`: active (for `Type=notify`: enrolled and ready).
 */
export type SystemdStance = 'absent' | 'unwanted' | 'busy' | 'stopped' | 'dead' | 'running';

/** Decides the {@link SystemdStance} of `v` and says why in one line. Pure. */
export function systemdStance(v: SystemdView): { stance: SystemdStance; why: string } {
  const u = v.unit;
  if (v.loadState !== 'loaded') return { stance: 'absent', why: `${u} is not installed (LoadState=${v.loadState})` };
  const a = v.activeState;
  if (a === 'activating' || a === 'deactivating' || a === 'reloading') {
    return { stance: 'busy', why: `${u} is ${a} (${v.subState}): systemd is on it` };
  }
  if (a === 'active')
    return { stance: 'running', why: `${u} is active (${v.subState}, MainPID ${v.mainPid}, ${v.nRestarts} restarts by systemd)` };
  const wanted = v.unitFileState.startsWith('enabled') || v.wantedBy.length > 0;
  if (!wanted) return { stance: 'unwanted', why: `${u} is ${a} and neither enabled nor wanted by another unit` };
  if (v.execMainCode === 0 && v.result === 'success')
    return { stance: 'stopped', why: `${u} is ${a} (not started since systemd loaded it)` };
  const exited = v.execMainCode === CLD_EXITED ? `exit ${v.execMainStatus}` : `signal ${v.execMainStatus}`;
  if (v.result === 'success' || (v.execMainCode === CLD_EXITED && ON_PURPOSE_EXITS.includes(v.execMainStatus))) {
    return { stance: 'stopped', why: `${u} is ${a} after a deliberate stop (Result=${v.result}, ${exited}): not restarting it` };
  }
  return { stance: 'dead', why: `${u} is ${a} (Result=${v.result}, ${exited}) and systemd does not restart it` };
}
