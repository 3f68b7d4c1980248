/**
 * TOML key syntax for the key locator: one key part (bare, "basic" with escapes, 'literal'),
 * and dotted keys with optional whitespace around the dots. smol-toml does not export its
 * string decoder, and `JSON.parse` rejects valid TOML escapes (`\U0001F600`, `\e`, `\x41`,
 * a raw tab), so basic strings are decoded here.
 */

// The basic-string alternative is the unrolled `"[^"\\]*(?:\\.[^"\\]*)*"`: linear on a
// megabyte-long key, where `(?:[^"\\]|\\.)*` costs several times more.
/** Regex source of one key part. */
export const KEY_PART = String.raw`(?:[A-Za-z0-9_-]+|"[^"\\]*(?:\\.[^"\\]*)*"|'[^']*')`;

/** Regex source of a dotted key: key parts joined by `.`, with spaces or tabs around the dots. */
export const DOTTED_KEY_SOURCE = String.raw`${KEY_PART}(?:[ \t]*\.[ \t]*${KEY_PART})*`;

const SIMPLE: Record<string, string> = { b: '\b', t: '\t', n: '\n', f: '\f', r: '\r', e: '\u001b', '"': '"', '\\': '\\' };
const ESCAPE = /\\(?:([btnfre"\\])|x([0-9A-Fa-f]{2})|u([0-9A-Fa-f]{4})|U([0-9A-Fa-f]{8}))/g;

/**
 * Decodes the body of a TOML basic string (without its quotes): `\b \t \n \f \r \e \" \\`,
 * `\xHH`, `\uXXXX` and `\UXXXXXXXX`. Never throws: an escape TOML rejects (a surrogate, a code
 * point past U+10FFFF, an unknown letter) is kept as written, since the parser has already
 * accepted or refused the document and the locator only needs a best match.
 */
export function unescapeBasic(body: string): string {
  if (!body.includes('\\')) return body;
  return body.replace(ESCAPE, (raw, simple?: string, x?: string, u4?: string, u8?: string) => {
    if (simple) return SIMPLE[simple] ?? raw;
    const cp = parseInt((x ?? u4 ?? u8) as string, 16);
    if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return raw;
    return String.fromCodePoint(cp);
  });
}

/** The parts of a dotted key as TOML reads them: `a . "b\tc".'d'` is `["a", "b<TAB>c", "d"]`. */
export function splitKey(dotted: string): string[] {
  const parts: string[] = [];
  for (const m of dotted.matchAll(new RegExp(KEY_PART, 'g'))) {
    const p = m[0];
    if (p.startsWith('"')) parts.push(unescapeBasic(p.slice(1, -1)));
    else if (p.startsWith("'")) parts.push(p.slice(1, -1));
    else parts.push(p);
  }
  return parts;
}
