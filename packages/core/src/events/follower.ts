import type { FSWatcher } from 'node:fs';
import { closeSync, watch } from 'node:fs';
import { join } from 'node:path';
import type { EventCursor } from './files.js';
import { listEventFiles } from './files.js';
import type { ForwardState, ScanStats } from './lines.js';
import { parseEventLine, scanForward } from './lines.js';
import { endCursor, openIfExists } from './reader.js';
import type { EventRecord } from './types.js';

/** Options of {@link followEvents}. */
export interface FollowOptions {
  /**
   * Where to start: `'now'` (default: only events appended after the call), `'start'` (the
   * beginning of the oldest file) or a cursor from {@link eventsSince} or a previous follow.
   */
  from?: EventCursor | 'now' | 'start';
  /** Only events of these kinds. */
  kinds?: readonly string[];
  /** Poll interval in ms (default 1000): the fallback when fs.watch misses or is unavailable. */
  pollMs?: number;
  /** Use fs.watch (inotify) on the directory for prompt wake-ups (default true). */
  watch?: boolean;
  /** Ends the iteration (the pending `next()` resolves `done`). */
  signal?: AbortSignal;
  /**
   * After switching to a newer daily file, the previous one is still read for this long (ms,
   * default 10 000) to catch lines another process appended late (an event stamped 23:59:59.999
   * written just after midnight). Those are yielded when seen, after the switch.
   */
  lateWindowMs?: number;
  /** Clock in ms for the late window (default `Date.now`). */
  now?: () => number;
  /** Incremented for each malformed line skipped (torn, not JSON, unterminated final tail). */
  stats?: ScanStats;
}

/** One followed event and the cursor just after it (persist it to resume later). */
export interface FollowedEvent {
  event: EventRecord;
  /** Position after this event in the current daily file. */
  cursor: EventCursor;
}

/** Events parsed per read while following; bounds memory when far behind. */
const BATCH = 1000;

interface Position {
  name: string;
  offset: number;
}

interface LateFile extends Position {
  until: number;
  pending: number;
}

/**
 * Follows the event stream as it grows, across daily rotation: yields every event appended
 * after the start position exactly once, in file order. When a newer daily file appears the
 * current one is read to EOF before switching; then the old file is still watched for
 * `lateWindowMs` (see {@link FollowOptions.lateWindowMs}). A daily file pruned under the
 * follower is skipped to the next one.
 *
 * Wakes on fs.watch events of the directory and, as a fallback, every `pollMs`; stops when
 * `signal` aborts or the consumer breaks out of the loop. The start position is taken at the
 * call, not at the first `next()`, so nothing appended in between is lost.
 *
 * @example
 * for await (const { event } of followEvents(paths.eventsDir, { signal })) console.log(event.kind);
 */
export function followEvents(dir: string, options: FollowOptions = {}): AsyncGenerator<FollowedEvent, void, undefined> {
  const from = options.from ?? 'now';
  const start: Position | null =
    from === 'start' ? null : from === 'now' ? toPosition(endCursor(dir)) : { name: from.file, offset: from.offset };
  return follow(dir, start, options);
}

function toPosition(c: EventCursor | null): Position | null {
  return c ? { name: c.file, offset: c.offset } : null;
}

async function* follow(dir: string, start: Position | null, options: FollowOptions): AsyncGenerator<FollowedEvent, void, undefined> {
  const { signal } = options;
  const pollMs = options.pollMs ?? 1000;
  const lateWindowMs = options.lateWindowMs ?? 10_000;
  const now = options.now ?? Date.now;
  const stats = options.stats ?? { malformed: 0 };
  const kindSet = options.kinds && options.kinds.length > 0 ? new Set(options.kinds) : undefined;
  const needles = kindSet ? [...kindSet].map((k) => Buffer.from(`"kind":${JSON.stringify(k)}`)) : undefined;

  let cur = start;
  // Only the file before the current one can still get late lines (written around midnight).
  let late: LateFile | undefined;
  let dirty: boolean;
  let wakeUp: (() => void) | undefined;
  const wake = (): void => {
    dirty = true;
    wakeUp?.();
  };
  let watcher: FSWatcher | undefined;
  const startWatch = (): void => {
    if (options.watch === false || watcher) return;
    try {
      watcher = watch(dir, { persistent: false }, wake);
      watcher.on('error', () => {
        // The directory went away or inotify gave up: polling carries on, and re-watches.
        watcher?.close();
        watcher = undefined;
      });
    } catch {
      watcher = undefined; // ENOENT (no directory yet) or ENOSPC (inotify limits): polling carries on
    }
  };
  signal?.addEventListener('abort', wake);

  /**
   * Reads complete lines of `pos.name` from `pos.offset` in batches (bounded memory however far
   * behind the follower is), yielding matching events; returns the unterminated tail's size.
   */
  function* drain(pos: Position, cursorOf: () => Position): Generator<FollowedEvent, number> {
    for (;;) {
      const fd = openIfExists(join(dir, pos.name));
      if (fd === undefined) return 0;
      const state: ForwardState = { offset: pos.offset, pending: 0, malformed: 0 };
      const batch: { event: EventRecord; offset: number }[] = [];
      let full = false;
      try {
        scanForward(
          fd,
          state,
          (buf, start, end) => {
            const event = parseEventLine(buf.toString('utf8', start, end));
            if (!event) {
              stats.malformed++;
            } else if (!kindSet || kindSet.has(event.kind)) {
              batch.push({ event, offset: state.offset });
              full = batch.length >= BATCH;
            }
            return !full;
          },
          needles,
        );
      } finally {
        closeSync(fd);
      }
      stats.malformed += state.malformed;
      for (const item of batch) {
        pos.offset = item.offset;
        const c = cursorOf();
        yield { event: item.event, cursor: { file: c.name, offset: c.offset } };
      }
      pos.offset = state.offset;
      if (!full) return state.pending;
    }
  }

  try {
    while (!signal?.aborted) {
      dirty = false;
      startWatch();
      const files = listEventFiles(dir);
      if (cur === null) {
        if (files[0] !== undefined) cur = { name: files[0], offset: 0 };
      } else if (!files.includes(cur.name)) {
        // Pruned (or not created yet): continue with the next newer file, if any.
        const c: Position = cur;
        const next = files.find((f) => f > c.name);
        if (next !== undefined) cur = { name: next, offset: 0 };
      }
      if (cur !== null) {
        const main: Position = cur;
        yield* drain(main, () => main);
        for (;;) {
          const c: Position = cur;
          const next = files.find((f) => f > c.name);
          if (next === undefined || signal?.aborted) break;
          // Finish the old file to EOF (lines may have landed since the read above) first.
          const pending = yield* drain(c, () => c);
          if (late) {
            const old = late;
            old.pending = yield* drain(old, () => c);
            if (old.pending > 0) stats.malformed++;
          }
          late = { name: c.name, offset: c.offset, until: now() + lateWindowMs, pending };
          const n: Position = { name: next, offset: 0 };
          cur = n;
          yield* drain(n, () => n);
        }
      }
      if (late) {
        const lf = late;
        const main = cur as Position;
        lf.pending = yield* drain(lf, () => main);
        if (now() >= lf.until) {
          // Window over: an unterminated tail left now is a torn line.
          if (lf.pending > 0) stats.malformed++;
          late = undefined;
        }
      }
      if (dirty || signal?.aborted) continue;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, pollMs);
        wakeUp = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wakeUp = undefined;
    }
  } finally {
    signal?.removeEventListener('abort', wake);
    watcher?.close();
  }
}
