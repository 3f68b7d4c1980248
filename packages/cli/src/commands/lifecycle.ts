import { configPaths } from '@agent-runner/core/config';
import { EXIT } from '@agent-runner/core/errors';
import { readEnrollment, signalIfSame, verifyIdentity, type EnrollmentRecord } from '@agent-runner/core/identity';
import { requestStop } from '@agent-runner/core/markers';
import { sleep } from '@agent-runner/core/sleep';
import type { CliContext } from '../context.js';
import { warn } from '../output.js';
import { projectUnits, showUnits, systemctl, type Manager } from '../systemd.js';
import { mustSucceed } from './install.js';
import { requireConfig, resolveService } from './service.js';
import type { KillArgs } from '../verbs/kill.js';
import type { StopArgs } from '../verbs/stop.js';

/** Arguments of `stop` or `kill` (the same `--timeout`). */
type LifecycleArgs = StopArgs | KillArgs;

async function waitGone(ctx: CliContext, rec: EnrollmentRecord, timeoutS: number | undefined): Promise<boolean> {
  const deadline = timeoutS === undefined ? Infinity : Date.now() + timeoutS * 1000;
  while (verifyIdentity(rec).verdict === 'same') {
    if (Date.now() >= deadline) return false;
    if (!(await sleep(100, ctx.signal))) return false;
  }
  return true;
}

const ACTIVE = new Set(['active', 'activating', 'deactivating', 'reloading']);

/**
 * systemd mode. `stop`: `systemctl stop` of the project's target, which reaches every unit
 * (PartOf=); serve gets SIGTERM alone (KillMode=mixed), so the round finishes, bounded by the
 * unit's TimeoutStopSec. `kill`: SIGQUIT to serve's main process only (`systemctl kill
 * --kill-whom=main`): the round's process group is ended and serve exits 0, so systemd does not
 * restart it; then waits until the unit is inactive. No stop marker is written: it would stop
 * the next `systemctl start` at once.
 */
async function systemdStop(
  ctx: CliContext,
  args: LifecycleArgs,
  m: Extract<Manager, { kind: 'systemd' }>,
  how: 'stop' | 'kill',
): Promise<number> {
  const { services, serve, target } = projectUnits(m.meta);
  const sc = m.scope === 'user' ? ' --user' : '';
  const started = Date.now();
  const states = await showUnits(m.scope, how === 'stop' ? [...services, target] : [serve], ctx.env);
  if (!states.some((u) => ACTIVE.has(u.active_state))) {
    warn(ctx, 'not running');
    return 0;
  }
  const timeoutMs = args.timeout === undefined ? undefined : args.timeout * 1000;
  warn(ctx, how === 'stop' ? 'stopping service...' : 'killing the current round...');
  if (how === 'kill') {
    const k = await systemctl(m.scope, ['kill', '--kill-whom=main', '--signal=SIGQUIT', serve], { env: ctx.env });
    mustSucceed(k, `systemctl${sc} kill ${serve}`);
    const deadline = timeoutMs === undefined ? Infinity : started + timeoutMs;
    for (;;) {
      const [s] = await showUnits(m.scope, [serve], ctx.env);
      if (!s || !ACTIVE.has(s.active_state)) break;
      if (Date.now() >= deadline || !(await sleep(200, ctx.signal))) {
        warn(ctx, `still running after ${args.timeout ?? '?'}s; \`systemctl${sc} kill --signal=SIGKILL ${serve}\` ends it hard`);
        return EXIT.TEMPFAIL;
      }
    }
  } else {
    const r = await systemctl(m.scope, ['stop', target, ...services], {
      env: ctx.env,
      ...(timeoutMs !== undefined ? { timeoutMs } : {}),
      signal: ctx.signal,
    });
    if (r.signal) {
      warn(ctx, `still stopping after ${args.timeout ?? '?'}s (the stop job goes on; \`agent-runner kill\` interrupts the round)`);
      return EXIT.TEMPFAIL;
    }
    mustSucceed(r, `systemctl${sc} stop ${target}`);
  }
  warn(ctx, `stopped (${((Date.now() - started) / 1000).toFixed(1)}s)`);
  return 0;
}

async function signalServe(ctx: CliContext, args: LifecycleArgs, how: 'stop' | 'kill'): Promise<number> {
  const r = resolveService(ctx, args);
  if (r.manager.kind === 'systemd') {
    if (r.configError) warn(ctx, `the config does not load (${r.configError.message}); stopping the installed units anyway`);
    return systemdStop(ctx, args, r.manager, how);
  }
  const cfg = requireConfig(r, how === 'stop' ? 'stopping' : 'killing');
  const paths = configPaths(cfg);
  const started = Date.now();
  if (how === 'stop') requestStop(paths, { by: 'cli', reason: 'agent-runner stop', nowMs: started });
  const rec = readEnrollment(paths, 'runner');
  if (!rec || verifyIdentity(rec).verdict !== 'same') {
    warn(ctx, how === 'stop' ? 'not running; the stop request stays until the next serve honours it' : 'not running');
    return 0;
  }
  warn(ctx, how === 'stop' ? 'stopping service...' : 'killing the current round...');
  // Identity is re-checked right before the signal: a recycled pid is never signalled.
  const sent = signalIfSame(rec, how === 'stop' ? 'SIGTERM' : 'SIGQUIT', ctx.kill);
  if (!sent.sent) {
    warn(ctx, `not signalled: ${sent.reason}`);
    return 0;
  }
  if (!(await waitGone(ctx, rec, args.timeout))) {
    warn(ctx, `still running after ${args.timeout ?? '?'}s (pid ${rec.pid}); \`agent-runner kill\` interrupts the round`);
    return EXIT.TEMPFAIL;
  }
  warn(ctx, `stopped (${((Date.now() - started) / 1000).toFixed(1)}s)`);
  return 0;
}

/**
 * `agent-runner stop [--timeout S]`: graceful stop. Under systemd (units installed by
 * `agent-runner install`, user or system mode) it is `systemctl stop` of the project's units;
 * in the foreground it writes the stop request and sends SIGTERM
 * to the serve process (identity-checked): a round in progress finishes, any wait ends at
 * once. Returns only when serve is gone (the Python anchor returned while the round still
 * ran). Prints `agent-runner: stopping service...` then `agent-runner: stopped (Xs)`.
 */
export function stop(ctx: CliContext, args: StopArgs): Promise<number> {
  return signalServe(ctx, args, 'stop');
}

/** `agent-runner kill`: interrupts the current round (its process group is ended) and stops serve. */
export function killServe(ctx: CliContext, args: KillArgs): Promise<number> {
  return signalServe(ctx, args, 'kill');
}
