import type { Ledger } from '@agent-runner/core/ledger';
import type { ProjectPaths } from '@agent-runner/core/paths';
import type { LogPriority } from '@agent-runner/core/unit';
import { executeCommand, type CommandOutcome } from './commands.js';

/**
 * Runs the pending inbox commands, oldest first: acts (markers), then in ONE transaction marks
 * the command handled and enqueues the acknowledgement (`reply:<inbox id>`, kind
 * `command_reply`) to the transport it came from.
 * @returns commands handled.
 */
export function consumeCommands(ctx: {
  ledger: Ledger;
  paths: ProjectPaths;
  now: () => number;
  transports: ReadonlySet<string>;
  log: (p: LogPriority, line: string) => void;
}): number {
  const { ledger } = ctx;
  const pending = ledger.bridge.pendingCommands(20);
  for (const cmd of pending) {
    let out: CommandOutcome;
    try {
      out = executeCommand(ctx, cmd);
    } catch (e) {
      out = { status: 'rejected', reply: `/${cmd.command} failed: ${(e as Error).message}` };
    }
    ledger.atomically(() => {
      ledger.bridge.markHandled(cmd.id, out.status, out.reply.slice(0, 2000), 'bridge');
      if (ctx.transports.has(cmd.transport)) {
        ledger.outbox.enqueue({
          idempotencyKey: `reply:${cmd.id}`,
          kind: 'command_reply',
          severity: 'info',
          title: `/${cmd.command}`,
          body: out.reply,
          transport: cmd.transport,
        });
      }
    });
    ctx.log(
      out.status === 'done' ? 'notice' : 'warning',
      `command /${cmd.command} (inbox ${cmd.id}) from ${cmd.transport}:${cmd.sender}: ${out.status}`,
    );
  }
  return pending.length;
}
