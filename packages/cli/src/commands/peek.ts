import { configPaths } from '@agent-runner/core/config';
import { AgentRunnerError } from '@agent-runner/core/errors';
import { openLedger } from '@agent-runner/core/ledger';
import { redactText } from '@agent-runner/core/redact';
import { existsSync } from 'node:fs';
import { buildPeek } from '@agent-runner/runner/peek';
import { tailLines } from '@agent-runner/runner/round-log';
import { renderTranscript } from '@agent-runner/core/transcript';
import type { CliContext } from '../context.js';
import { loadProjectConfig } from '../load.js';
import { out, outJson } from '../output.js';
import { renderPeek } from '../render-peek.js';
import { table } from '../table.js';
import type { PeekArgs } from '../verbs/peek.js';

/**
 * Picks `a.b.0.c` out of a JSON value; undefined when the path does not exist. Only the
 * document's own enumerable fields count, at every level: `__proto__`, `toString`,
 * `constructor` or an array's `length` are no fields of it.
 */
export function selectPath(value: unknown, path: string): unknown {
  let cur = value;
  for (const part of path.split('.').filter(Boolean)) {
    if (cur === null || typeof cur !== 'object' || !Object.prototype.propertyIsEnumerable.call(cur, part)) return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur;
}

/**
 * The last `n` lines of a round log, redacted: as the agent wrote them (`raw`), or rendered as
 * a transcript from up to 4n raw lines (events such as Claude's partial deltas render to
 * nothing), each cut to `width` columns when given.
 */
function logTail(file: string, n: number, opts: { raw: boolean; width: number | undefined }): string[] {
  if (opts.raw) return tailLines(file, n).map(redactText);
  return renderTranscript(tailLines(file, Math.min(n * 4, n + 10_000)), { width: opts.width, redact: redactText }).slice(-n);
}

function roundDetail(ctx: CliContext, args: PeekArgs): number {
  const cfg = loadProjectConfig(ctx, args, { skipFileChecks: true });
  const { ledgerPath } = configPaths(cfg);
  if (!existsSync(ledgerPath))
    throw new AgentRunnerError('ERR_AR_USAGE', 'no rounds yet: the ledger does not exist', { found: ledgerPath });
  const ledger = openLedger(ledgerPath, { readonly: true });
  let record;
  try {
    const n = args.round === 'latest' ? ledger.runner.lastRounds(1)[0]?.round : args.round;
    if (n === undefined) throw new AgentRunnerError('ERR_AR_USAGE', 'no rounds yet in the ledger', { found: ledgerPath });
    record = ledger.runner.getRound(n);
    if (!record) throw new AgentRunnerError('ERR_AR_USAGE', `no round ${n} in the ledger`, { found: String(n) });
  } finally {
    ledger.close();
  }
  if (args.log) {
    const lines =
      record.logFile && existsSync(record.logFile)
        ? logTail(record.logFile, args.lines ?? 50, { raw: Boolean(args.raw), width: args.json ? undefined : ctx.columns })
        : [];
    if (args.json) outJson(ctx, { round: record.round, log_file: record.logFile, lines });
    else lines.forEach((l) => out(ctx, l));
    return 0;
  }
  if (args.json) outJson(ctx, record);
  else {
    const rows = Object.entries(record).map(([k, v]) => [k, typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v)]);
    table(rows, { width: ctx.columns }).forEach((l) => out(ctx, l));
  }
  return 0;
}

/**
 * `agent-runner peek [--json] [--select PATH] [--round N|latest] [--log [--lines N]]`: a
 * snapshot of the project — service state, current and last rounds, classification counts,
 * back-off and throttle, orphan stashes, disk and memory, defenses. Reads the ledger (read-only)
 * and the newest event lines only, so it costs the same at 500 events or 500,000.
 */
export async function peek(ctx: CliContext, args: PeekArgs): Promise<number> {
  if (args.round !== undefined || args.log) {
    if (args.log && args.round === undefined) args.round = 'latest';
    return roundDetail(ctx, args);
  }
  const snap = await buildPeek(loadProjectConfig(ctx, args, { skipFileChecks: true }), { nowMs: Date.now() });
  if (args.select !== undefined) {
    const v = selectPath(snap, args.select);
    if (v === undefined)
      throw new AgentRunnerError('ERR_AR_USAGE', `--select ${args.select}: no such field`, {
        expected: `a path into the peek document, e.g. service.state, rounds.0.classification`,
        found: args.select,
      });
    if (args.json || typeof v === 'object') outJson(ctx, v);
    else out(ctx, String(v));
    return 0;
  }
  if (args.json) outJson(ctx, snap);
  else renderPeek(snap, ctx.columns).forEach((l) => out(ctx, l));
  return 0;
}
