import { existsSync } from 'node:fs';
import { raiseAlarm } from '@agent-runner/core/alarms';
import type { AgentRunnerError } from '@agent-runner/core/errors';
import { openLedger } from '@agent-runner/core/ledger';
import { projectPaths } from '@agent-runner/core/paths';
import type { CliContext } from './context.js';
import { oneLine } from './output.js';

/**
 * A serve unit whose config no longer loads exits 78 and systemd leaves it stopped: tell the
 * human. The unit's drop-in names the project and where its state was when installed
 * (`AGENT_RUNNER_PROJECT`, `AGENT_RUNNER_STATE_DIR`); the `config_broken` alarm goes into that
 * ledger, which the bridge (still running on the config it loaded) delivers. Best effort: the
 * journal line is the record when there is no ledger there.
 */
export function recordBrokenConfig(ctx: CliContext, e: AgentRunnerError): void {
  const project = ctx.env['AGENT_RUNNER_PROJECT'];
  const dir = ctx.env['AGENT_RUNNER_STATE_DIR'];
  if (!project || !dir) return;
  const { ledgerPath } = projectPaths(project, dir, dir);
  if (!existsSync(ledgerPath)) return;
  try {
    const ledger = openLedger(ledgerPath);
    try {
      raiseAlarm(ledger, 'config_broken', { check: 'config', detail: oneLine(e) }, { project });
    } finally {
      ledger.close();
    }
  } catch {
    // The ledger is unusable too: the exit code and the journal say it.
  }
}
