import { isNoSpace } from '@agent-runner/core/disk';
import { AgentRunnerError, isAgentRunnerError, EXIT } from '@agent-runner/core/errors';
import { redactStrings, redactText } from '@agent-runner/core/redact';
import type { CliContext } from './context.js';

/** Writes one line to stdout. */
export function out(ctx: CliContext, line = ''): void {
  ctx.stdout.write(`${line}\n`);
}

/** Writes one line to stderr, prefixed with the program name (redacted: it may quote input). */
export function warn(ctx: CliContext, line: string): void {
  ctx.stderr.write(`agent-runner: ${redactText(line)}\n`);
}

/** Writes a value as pretty JSON (one document) to stdout. */
export function outJson(ctx: CliContext, value: unknown): void {
  ctx.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

function renderOne(e: AgentRunnerError, indent: string): string[] {
  const where = e.where();
  const lines = [`${indent}${where ? `${where}: ` : ''}${e.message} [${e.code}]`];
  if (e.expected !== undefined) lines.push(`${indent}  expected: ${e.expected}`);
  if (e.found !== undefined) lines.push(...`found: ${e.found}`.split('\n').map((l, i) => `${indent}  ${i ? '  ' : ''}${l}`));
  return lines;
}

/**
 * One line for the journal: every problem (`file:line: message [CODE] (expected …, found …)`)
 * and the hint, joined with ` | `, so `journalctl -p err` shows the whole reason in one entry.
 */
export function oneLine(e: AgentRunnerError): string {
  const one = (x: AgentRunnerError): string =>
    `${x.where() ? `${x.where()}: ` : ''}${x.message} [${x.code}]${x.expected !== undefined ? ` (expected ${x.expected}${x.found !== undefined ? `, found ${x.found}` : ''})` : ''}`;
  return [e, ...e.more]
    .map(one)
    .concat(`hint: ${e.hint}`)
    .join(' | ')
    .replace(/\s*\n\s*/g, ' ');
}

/**
 * Reports an error the way operators and scripts expect: a human message with file, line,
 * key, expected/found and a hint on stderr (or one JSON object on stdout with `--json`),
 * never a stack trace for a known error. Under systemd (stderr is the journal,
 * `$JOURNAL_STREAM`) it is one line at `err` priority instead. Redacted (an error may quote
 * input). Returns the sysexits code.
 */
export function reportError(ctx: CliContext, e: unknown, json: boolean): number {
  // A full disk is the host's state, not a bug: 75, so systemd tries again later.
  if (!isAgentRunnerError(e) && isNoSpace(e)) {
    e = new AgentRunnerError('ERR_AR_NO_SPACE', `no space left: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
  if (isAgentRunnerError(e)) {
    if (json) {
      ctx.stdout.write(`${JSON.stringify({ ok: false, error: redactStrings(e.toJSON()) })}\n`);
    } else if (ctx.env['JOURNAL_STREAM']) {
      ctx.stderr.write(`<3>agent-runner: error: ${redactText(oneLine(e))}\n`);
    } else {
      const lines = ['agent-runner: error:', ...renderOne(e, '  ')];
      for (const m of e.more) lines.push(...renderOne(m, '  '));
      lines.push(`  hint: ${e.hint}`);
      ctx.stderr.write(`${redactText(lines.join('\n'))}\n`);
    }
    return e.exitCode;
  }
  const msg = redactText(e instanceof Error ? e.message : String(e));
  if (json) ctx.stdout.write(`${JSON.stringify({ ok: false, error: { code: 'ERR_AR_INTERNAL', message: msg } })}\n`);
  else if (ctx.env['JOURNAL_STREAM'])
    ctx.stderr.write(
      `<3>agent-runner: internal error: ${msg.replace(/\s*\n\s*/g, ' ')} (this is a bug; set AGENT_RUNNER_DEBUG=1 for a stack trace)\n`,
    );
  else ctx.stderr.write(`agent-runner: internal error: ${msg}\n  (this is a bug; rerun with AGENT_RUNNER_DEBUG=1 for a stack trace)\n`);
  if (ctx.env['AGENT_RUNNER_DEBUG'] && e instanceof Error) ctx.stderr.write(`${e.stack ?? ''}\n`);
  return EXIT.SOFTWARE;
}
