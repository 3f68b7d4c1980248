import type { OutMessage } from './transport.js';

/**
 * The one plain-text rendering every chat transport shows: the title as the producer wrote it
 * (`<project>@<host>: <what happened>`, no severity tags added), a blank line, the body.
 * Severity travels in each platform's own way (ntfy priority, email headers, webhook JSON).
 */
export function renderText(msg: Pick<OutMessage, 'title' | 'body'>): string {
  return msg.body ? `${msg.title}\n\n${msg.body}` : msg.title;
}

/** Where the full text of a message lives, from its payload (`log_file` or `round`). */
export function logPointer(msg: OutMessage): string {
  const p = (msg.payload && typeof msg.payload === 'object' ? msg.payload : {}) as Record<string, unknown>;
  if (typeof p['log_file'] === 'string') return `full text: ${p['log_file']}`;
  if (typeof p['round'] === 'number') return `full text: agent-runner peek --round ${p['round']} --log`;
  return 'full text: agent-runner events';
}

/**
 * Splits `text` into at most `maxChunks` pieces of at most `limit` UTF-16 code units, cutting
 * at a line break or space when one is near the end of a piece and never inside a surrogate
 * pair. What does not fit in `maxChunks` is dropped and the last piece ends with
 * `… (truncated; <pointer>)`.
 */
export function chunkText(text: string, limit: number, maxChunks: number, pointer: string): string[] {
  if (text.length <= limit) return [text];
  const out: string[] = [];
  let rest = text;
  while (rest.length > 0 && out.length < maxChunks) {
    if (rest.length <= limit) {
      out.push(rest);
      break;
    }
    const last = out.length === maxChunks - 1;
    const suffix = `\n… (truncated; ${pointer})`;
    const room = last ? Math.max(1, limit - suffix.length) : limit;
    let cut = room;
    const nl = rest.lastIndexOf('\n', room);
    const sp = rest.lastIndexOf(' ', room);
    if (nl > room * 0.6) cut = nl;
    else if (sp > room * 0.8) cut = sp;
    if (isHighSurrogate(rest.charCodeAt(cut - 1))) cut -= 1;
    const piece = rest.slice(0, cut);
    rest = rest.slice(cut).replace(/^[\n ]/, '');
    out.push(last && rest.length > 0 ? `${piece}${suffix}`.slice(0, limit) : piece);
  }
  return out;
}

/** Cuts `text` to `limit` code units with an ellipsis. */
export function truncate(text: string, limit: number): string {
  if (text.length <= limit) return text;
  let cut = limit - 1;
  if (isHighSurrogate(text.charCodeAt(cut - 1))) cut -= 1;
  return `${text.slice(0, cut)}…`;
}

function isHighSurrogate(c: number): boolean {
  return c >= 0xd800 && c <= 0xdbff;
}
