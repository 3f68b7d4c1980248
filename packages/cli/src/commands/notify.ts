import { alarmOrigin } from '@agent-runner/core/alarms';
import { configPaths } from '@agent-runner/core/config';
import { AgentRunnerError, EXIT } from '@agent-runner/core/errors';
import { openLedger } from '@agent-runner/core/ledger';
import type { CliContext } from '../context.js';
import { loadProjectConfig } from '../load.js';
import type { NotifyTestArgs } from '../verbs/notify.js';

/**
 * `agent-runner notify test [--transport NAME]`: enqueues a test notification (to one
 * transport, or routed to all) that the running bridge delivers; prints the outbox row id.
 */
export function notifyTest(ctx: CliContext, args: NotifyTestArgs): number {
  const cfg = loadProjectConfig(ctx, args, { skipFileChecks: true });
  const names = cfg.notify.map((n) => n.name);
  if (args.transport !== undefined && !names.includes(args.transport)) {
    throw new AgentRunnerError('ERR_AR_USAGE', `no [notify.${args.transport}] in ${cfg.source}`, {
      expected: names.length ? `one of ${names.join(', ')}` : 'a [notify.NAME] table in the config',
      found: args.transport,
    });
  }
  const ledger = openLedger(configPaths(cfg).ledgerPath);
  try {
    const at = Date.now();
    const r = ledger.outbox.enqueue({
      idempotencyKey: `notify-test:${at}:${ctx.pid}`,
      kind: 'notify_test',
      severity: 'info',
      title: `${alarmOrigin(cfg.project)}: test notification`,
      body: `Sent by \`agent-runner notify test\` at ${new Date(at).toISOString()}. If you read this, the transport works.`,
      ...(args.transport !== undefined ? { transport: args.transport } : {}),
    });
    const line = args.json
      ? JSON.stringify({ outbox_id: r.id, transport: args.transport ?? null })
      : `queued test notification #${r.id} for ${args.transport ?? `every enabled transport (${names.join(', ') || 'none configured'})`}; the bridge sends it within a second`;
    ctx.stdout.write(`${line}\n`);
    return EXIT.OK;
  } finally {
    ledger.close();
  }
}
