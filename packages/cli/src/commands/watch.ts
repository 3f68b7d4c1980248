import { buildPeek } from '@agent-runner/runner/peek';
import { sleep } from '@agent-runner/core/sleep';
import type { CliContext, GlobalArgs } from '../context.js';
import { loadProjectConfig } from '../load.js';
import { out } from '../output.js';
import { renderPeek } from '../render-peek.js';

/** Arguments of `agent-runner watch`. */
export interface WatchArgs extends GlobalArgs {
  interval: number;
}

/**
 * `agent-runner watch [--interval S]`: peek, refreshed in place until interrupted. On a
 * terminal each frame overwrites the previous one line by line (cursor home, each line
 * cleared to its end, the rest of the screen cleared) — no full-screen clear, so no flicker;
 * when stdout is not a terminal, plain snapshots separated by blank lines.
 */
export async function watch(ctx: CliContext, args: WatchArgs): Promise<number> {
  const cfg = loadProjectConfig(ctx, args, { skipFileChecks: true });
  const tty = ctx.stdoutIsTTY;
  if (tty) ctx.stdout.write('\x1b[?1049h\x1b[?25l');
  try {
    do {
      const lines = renderPeek(await buildPeek(cfg, { nowMs: Date.now() }), ctx.columns);
      if (tty) ctx.stdout.write(`\x1b[H${lines.map((l) => `${l}\x1b[K`).join('\n')}\n\x1b[J`);
      else {
        lines.forEach((l) => out(ctx, l));
        out(ctx);
      }
    } while (await sleep(args.interval * 1000, ctx.signal));
  } finally {
    if (tty) ctx.stdout.write('\x1b[?25h\x1b[?1049l');
  }
  return 0;
}
