import { redactText } from '@agent-runner/core/redact';
import type { CliContext } from './context.js';

const PRIORITY = { err: 3, warning: 4, notice: 5, info: 6 } as const;

/** A syslog priority name. */
export type Priority = keyof typeof PRIORITY;

/**
 * A line logger for daemons. Under systemd (stderr connected to the journal, which systemd
 * announces with `$JOURNAL_STREAM`) each line starts with an sd-daemon(3) priority prefix
 * such as `<4>`, so `journalctl -p warning` filters correctly, and a message is one journal
 * entry (its line breaks become ` | `: journald would make each line an entry of its own, and
 * the first alone would carry the reason); on a terminal lines carry a time stamp and the level.
 * Lines are redacted (core/redact): the journal leaves the process.
 */
export function daemonLogger(ctx: CliContext, name: string): (priority: Priority, line: string) => void {
  const journal = Boolean(ctx.env['JOURNAL_STREAM']);
  return (priority, raw) => {
    const line = redactText(raw);
    if (journal) {
      ctx.stderr.write(`<${PRIORITY[priority]}>${line.replace(/\s*\n\s*/g, ' | ')}\n`);
      return;
    }
    for (const l of line.split('\n')) ctx.stderr.write(`${new Date().toISOString()} ${name} ${priority}: ${l}\n`);
  };
}
