import { existsSync } from 'node:fs';
import type { AgentRunnerConfig } from '@agent-runner/core/config';
import type { PeekSnapshot } from '@agent-runner/core/peek';
import { redactText } from '@agent-runner/core/redact';
import { sleep } from '@agent-runner/core/sleep';
import { renderTranscript } from '@agent-runner/core/transcript';
import { buildPeek } from '@agent-runner/runner/peek';
import { tailLines } from '@agent-runner/runner/round-log';
import type { CliContext, Terminal } from '../context.js';
import { loadProjectConfig } from '../load.js';
import { out } from '../output.js';
import { renderPeek } from '../render-peek.js';
import { renderWatch, type WatchView } from '../render-watch.js';
import type { WatchArgs } from '../verbs/watch.js';

/**
 * `agent-runner watch [--interval S]`: on a terminal, a full-screen view refreshed every S
 * seconds and at once on a key or a resize (state pinned at the top, newest rounds, the live
 * transcript, key hints at the bottom; `q` or Ctrl-C quits, `l` the transcript alone, `e` the
 * events); otherwise plain `peek` snapshots separated by blank lines until interrupted.
 */
export async function watch(ctx: CliContext, args: WatchArgs): Promise<number> {
  const cfg = loadProjectConfig(ctx, args, { skipFileChecks: true });
  if (ctx.terminal) return screen(ctx, ctx.terminal, cfg, args.interval);
  do {
    renderPeek(await buildPeek(cfg, { nowMs: Date.now() }), ctx.columns).forEach((l) => out(ctx, l));
    out(ctx);
  } while (await sleep(args.interval * 1000, ctx.signal));
  return 0;
}

/** The redacted transcript of the running (else the latest) round, at most `n` lines. */
function transcriptOf(p: PeekSnapshot, n: number): string[] {
  const file = p.current_round?.log_file ?? p.rounds[0]?.log_file;
  if (!file || !existsSync(file)) return [];
  return renderTranscript(tailLines(file, n * 4), { redact: redactText }).slice(-n);
}

async function screen(ctx: CliContext, term: Terminal, cfg: AgentRunnerConfig, intervalS: number): Promise<number> {
  let view: WatchView = 'main';
  let quit = false;
  let wake = new AbortController();
  const offKey = term.onKey((k) => {
    // Raw mode: Ctrl-C arrives as a key, not as SIGINT.
    if (k === 'q' || k === 'Q' || k === '\x03') quit = true;
    else if (k === 'l' || k === 'e') view = view === (k === 'l' ? 'log' : 'events') ? 'main' : k === 'l' ? 'log' : 'events';
    else return;
    wake.abort();
  });
  const offResize = term.onResize(() => wake.abort());
  // The alternate screen (the shell's screen comes back on exit), the cursor hidden.
  ctx.stdout.write('\x1b[?1049h\x1b[?25l');
  try {
    let snapshot = await buildPeek(cfg, { nowMs: Date.now() });
    let fetched = Date.now();
    while (!quit && !ctx.signal.aborted) {
      // Armed before the frame is built: a key pressed meanwhile ends the next wait at once.
      wake = new AbortController();
      if (Date.now() - fetched >= intervalS * 1000) {
        snapshot = await buildPeek(cfg, { nowMs: Date.now() });
        fetched = Date.now();
      }
      const { columns, rows } = term.size();
      const lines = renderWatch({ snapshot, transcript: transcriptOf(snapshot, rows), view, columns, rows, intervalS, nowMs: Date.now() });
      // Each row written in place and cleared to its end, inside a synchronized update
      // (terminals that lack it ignore it): no full clear, so no flicker, and no newline, so no scroll.
      ctx.stdout.write(`\x1b[?2026h${lines.map((l, i) => `\x1b[${i + 1};1H${l}\x1b[K`).join('')}\x1b[?2026l`);
      await sleep(Math.max(0, intervalS * 1000 - (Date.now() - fetched)), AbortSignal.any([ctx.signal, wake.signal]));
    }
  } finally {
    offKey();
    offResize();
    ctx.stdout.write('\x1b[?25h\x1b[?1049l');
  }
  return 0;
}
