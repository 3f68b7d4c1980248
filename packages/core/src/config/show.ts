/**
 * Renders untrusted text (values, key names, source lines) for one-line error reasons: a
 * config value may be a megabyte long or hold newlines, and an error that echoes it whole
 * floods the terminal, splits a journal entry, or is cut by the pipe.
 */

/** Longest value an error shows, in characters (before escaping). */
export const SHOWN_VALUE_MAX = 80;

/** Longest message, expected or found text of a config error, in characters. */
export const REASON_MAX = 300;

// C0 and C1 controls, DEL, and the Unicode line and paragraph separators: each would break a
// line (or a terminal) if printed as is.
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;
const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t', '\b': '\\b', '\f': '\\f' };

function escapeControls(s: string): string {
  return s.replace(CONTROL, (c) => NAMED[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** `s` cut to at most `max` characters, never in the middle of a surrogate pair. */
function cut(s: string, max: number): string {
  if (s.length <= max) return s;
  const end = /[\uD800-\uDBFF]/.test(s[max - 1] ?? '') ? max - 1 : max;
  return s.slice(0, end);
}

/**
 * One line of at most `max` characters: control characters escaped (`\n`, `\t`, `\u001b`),
 * the rest cut with `…`. For text that is already mostly prose (messages, source excerpts).
 */
export function clampLine(s: string, max = REASON_MAX): string {
  // Escape only a prefix: escaping a 1 MB string to throw most of it away is wasted work.
  const escaped = escapeControls(cut(s, max + 1));
  return escaped.length <= max && s.length <= max ? escaped : `${cut(escaped, max - 1)}…`;
}

/** `s` as a JSON string, escaped, cut to `max` characters with `…` inside the quotes. */
export function quoteCut(s: string, max = SHOWN_VALUE_MAX): string {
  if (s.length <= max) return escapeControls(JSON.stringify(s));
  return `${escapeControls(JSON.stringify(cut(s, max)).slice(0, -1))}…"`;
}

/**
 * A value quoted as a JSON string, escaped, and cut to {@link SHOWN_VALUE_MAX} characters
 * with its full length named: `"abc…" (1048576 characters)`.
 */
export function showText(s: string, max = SHOWN_VALUE_MAX): string {
  return s.length <= max ? quoteCut(s, max) : `${quoteCut(s, max)} (${s.length} characters)`;
}
