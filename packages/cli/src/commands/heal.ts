import { userInfo } from 'node:os';
import { configPaths } from '@agent-runner/core/config';
import { AgentRunnerError } from '@agent-runner/core/errors';
import { openLedger, type HealActionRecord } from '@agent-runner/core/ledger';
import { requestHealReset } from '@agent-runner/core/requests';
import { DEFAULT_INSTALLED_PACKAGE_JSON } from '@agent-runner/watchdog/daemon';
import { lastRespawn } from '@agent-runner/watchdog/evidence';
import { healStatus, renderHealStatus } from '@agent-runner/watchdog/status';
import { systemctlShow } from '@agent-runner/watchdog/systemd';
import { TARGETS } from '@agent-runner/watchdog/tiers';
import { existsSync } from 'node:fs';
import type { CliContext, GlobalArgs } from '../context.js';
import { loadProjectConfig } from '../load.js';
import { out, outJson } from '../output.js';
import type { HealResetArgs } from '../verbs/heal.js';

/**
 * `agent-runner heal status [--json]`: each target's verdict and evidence, where it stands
 * (starting, stopped on purpose, restarted by systemd, ...), tier, breaker and next allowed
 * action, and the watchdog's own health. Exit 0.
 */
export async function healStatusCmd(ctx: CliContext, args: GlobalArgs): Promise<number> {
  const cfg = loadProjectConfig(ctx, args, { skipFileChecks: true });
  const paths = configPaths(cfg);
  let ledger: ReturnType<typeof openLedger> | undefined;
  if (existsSync(paths.ledgerPath)) ledger = openLedger(paths.ledgerPath, { readonly: true });
  try {
    const l = ledger;
    const heal = {
      states: l?.watchdog.listHealStates() ?? [],
      actions: (t: string): HealActionRecord[] => l?.watchdog.recentHealActions(10, t) ?? [],
      respawns: (t: string) => (l !== undefined ? lastRespawn(l, t) : undefined),
    };
    const st = await healStatus(cfg, heal, {
      nowMs: Date.now(),
      monoMs: ctx.monoMs(),
      installedPackageJson: DEFAULT_INSTALLED_PACKAGE_JSON,
      systemdShow: systemctlShow(ctx.env, 5000),
      userMode: ctx.mode === 'user',
    });
    if (args.json) outJson(ctx, st);
    else ctx.stdout.write(renderHealStatus(st));
  } finally {
    ledger?.close();
  }
  return 0;
}

/**
 * `agent-runner heal reset UNIT --reason TEXT`: asks the watchdog to close UNIT's circuit
 * breaker; the watchdog records who (`cli:<user>`) and why in heal_actions at its next probe.
 * @throws AgentRunnerError ERR_AR_USAGE for an unknown unit or an empty reason.
 */
export function healResetCmd(ctx: CliContext, args: HealResetArgs): number {
  if (!(TARGETS as readonly string[]).includes(args.unit)) {
    throw new AgentRunnerError('ERR_AR_USAGE', `unknown unit ${JSON.stringify(args.unit)}`, {
      expected: TARGETS.join(', '),
      found: args.unit,
    });
  }
  if (args.reason.trim() === '') throw new AgentRunnerError('ERR_AR_USAGE', '--reason must say why', { key: 'reason' });
  const cfg = loadProjectConfig(ctx, args, { skipFileChecks: true });
  let user = ctx.env['SUDO_USER'] ?? ctx.env['USER'];
  if (!user) {
    try {
      user = userInfo().username;
    } catch {
      user = 'unknown'; // SystemError: a uid without a passwd entry (a container); the request still counts
    }
  }
  const req = requestHealReset(configPaths(cfg), args.unit, { by: `cli:${user}`, reason: args.reason, nowMs: Date.now() });
  if (args.json) outJson(ctx, req);
  else out(ctx, `reset of ${args.unit}'s heal breaker requested (${req.nonce}); the watchdog applies it at its next probe`);
  return 0;
}
