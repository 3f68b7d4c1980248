/**
 * Operator lines from an agent CLI's output (a round log): each structured event of Claude
 * Code (`--output-format stream-json`), Codex (`exec --json`) or Gemini CLI (`--output-format
 * stream-json`) as a short line or two of what happened (assistant text, a tool call with the
 * gist of its input, its result cut to a line, errors, the result with cost and tokens); any
 * other line (plain text, stderr, an unknown event) as it was. The format is told per line by
 * its event vocabulary, so a generic preset running one of these CLIs renders too.
 */
import { claudeLines } from './claude.js';
import { codexLines } from './codex.js';
import { geminiLines } from './gemini.js';
import { textBlock, type Json, type Render } from './shared.js';

/** How {@link renderTranscript} shapes its lines. */
export interface TranscriptOptions {
  /** Columns each line is cut to, with `…` (undefined: not cut). */
  width?: number | undefined;
  /** Applied to each line before it is cut (a secret cut in two would escape it), e.g. redactText. */
  redact?: ((line: string) => string) | undefined;
}

const RENDERERS: Render[] = [claudeLines, codexLines, geminiLines];

/**
 * Renders raw output lines (oldest first) as operator lines, oldest first. Gemini's streamed
 * assistant chunks (`"delta":true`) are joined into one message.
 */
export function renderTranscript(raw: readonly string[], opts: TranscriptOptions = {}): string[] {
  const out: string[] = [];
  let pending = '';
  const flush = (): void => {
    if (pending) out.push(...textBlock('assistant', pending));
    pending = '';
  };
  for (const line of raw) {
    const ev = parseEvent(line);
    if (ev && ev['type'] === 'message' && ev['role'] === 'assistant' && typeof ev['content'] === 'string') {
      pending += ev['content'];
      continue;
    }
    flush();
    const rendered = ev ? RENDERERS.reduce<string[] | undefined>((got, r) => got ?? r(ev), undefined) : undefined;
    out.push(...(rendered ?? [line]));
  }
  flush();
  const { width, redact } = opts;
  const safe = redact ? out.map(redact) : out;
  return width ? safe.map((l) => cut(l, width)) : safe;
}

/** An object parsed from a line that is one JSON object, else undefined. */
function parseEvent(line: string): Json | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    const v: unknown = JSON.parse(line);
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : undefined;
  } catch {
    // a line that only looks like JSON (cut, or plain text in braces): shown as it is
    return undefined;
  }
}

/** `line` cut to `width` characters (code points), ending in `…` when it was longer. */
export function cut(line: string, width: number): string {
  const chars = [...line];
  return chars.length <= width ? line : `${chars.slice(0, Math.max(1, width - 1)).join('')}…`;
}
