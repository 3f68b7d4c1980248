/**
 * Maps dotted key paths of a TOML document to the line and column where each key is written,
 * so schema and semantic errors can point at the source. smol-toml does not report value
 * positions, so this is a small line scanner over the subset of TOML that positions need:
 * table headers, `key = value` lines (bare, quoted and dotted keys), one-line inline tables,
 * and skipping of multi-line strings and arrays. It never throws; an unknown path falls back
 * to its nearest located ancestor.
 */
import { quoteCut } from './show.js';
import { DOTTED_KEY_SOURCE, splitKey } from './toml-key.js';

/** 1-based position of a key in the source. */
export interface KeyPosition {
  line: number;
  column: number;
}

const DOTTED_KEY = new RegExp(String.raw`^(${DOTTED_KEY_SOURCE})[ \t]*=`);
const HEADER = new RegExp(String.raw`^\[\[?[ \t]*(${DOTTED_KEY_SOURCE})[ \t]*\]`);
// Sticky: matched at one position of an inline table, never searched for (a search from every
// position of a long value would be quadratic).
const INLINE_KEY = new RegExp(String.raw`(${DOTTED_KEY_SOURCE})[ \t]*=`, 'y');

/** Index just past the string starting at `i` (a quote), or the end of `text` when unterminated. */
function skipString(text: string, i: number): number {
  const q = text[i];
  for (let j = i + 1; j < text.length; j++) {
    if (q === '"' && text[j] === '\\') j++;
    else if (text[j] === q) return j + 1;
  }
  return text.length;
}

/** Counts brackets outside strings, to follow arrays that span lines. */
function bracketDelta(text: string): number {
  let depth = 0;
  let quote: string | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quote) {
      if (c === '\\' && quote === '"') i++;
      else if (c === quote) quote = undefined;
    } else if (c === '"' || c === "'") quote = c;
    else if (c === '#') break;
    else if (c === '[' || c === '{') depth++;
    else if (c === ']' || c === '}') depth--;
  }
  return depth;
}

/** Key-path → position index of one TOML source. */
export class KeyLocator {
  private readonly positions = new Map<string, KeyPosition>();

  constructor(source: string) {
    const lines = source.split(/\r?\n/);
    let table: string[] = [];
    let multiline: string | undefined;
    let arrayDepth = 0;
    lines.forEach((raw, idx) => {
      const lineNo = idx + 1;
      if (multiline) {
        if (raw.includes(multiline)) multiline = undefined;
        return;
      }
      if (arrayDepth > 0) {
        arrayDepth += bracketDelta(raw);
        return;
      }
      const indent = raw.length - raw.trimStart().length;
      const text = raw.trim();
      if (text === '' || text.startsWith('#')) return;
      const header = HEADER.exec(text);
      if (header?.[1]) {
        table = splitKey(header[1]);
        this.set(table, lineNo, indent + 1);
        return;
      }
      const kv = DOTTED_KEY.exec(text);
      if (!kv?.[1]) return;
      const path = [...table, ...splitKey(kv[1])];
      this.set(path, lineNo, indent + 1);
      const value = text.slice(kv[0].length).trim();
      for (const q of ['"""', "'''"]) {
        if (value.startsWith(q) && value.indexOf(q, 3) === -1) multiline = q;
      }
      if (multiline) return;
      if (value.startsWith('{')) this.inline(path, value, lineNo, indent + 1 + text.length - value.length);
      // An array, or an inline table continued on the next lines (TOML 1.1), is skipped to its
      // end: its inner lines are not `key = value` lines of the current table.
      if (value.startsWith('[') || value.startsWith('{')) arrayDepth = Math.max(0, bracketDelta(value));
    });
  }

  /**
   * Locates the keys of a one-line inline table (`value` starts at its `{`, column `col`):
   * a linear scan that skips strings and follows nested tables, so `{ a = { b = 1 } }` puts
   * `b` under `a`. Keys inside arrays are not located (their ancestors are).
   */
  private inline(base: string[], value: string, line: number, col: number): void {
    const stack: Array<{ path: string[]; table: boolean }> = [];
    let lastKey: string[] | undefined = base;
    let expectKey = false;
    for (let i = 0; i < value.length;) {
      const c = value[i] as string;
      if (c === ' ' || c === '\t') {
        i++;
      } else if (c === '"' || c === "'") {
        if (expectKey) {
          INLINE_KEY.lastIndex = i;
          const m = INLINE_KEY.exec(value);
          if (m?.[1]) {
            lastKey = this.inlineKey(stack, m[1], line, col + i);
            expectKey = false;
            i += m[0].length;
            continue;
          }
        }
        i = skipString(value, i);
        expectKey = false;
      } else if (c === '#') {
        break;
      } else if (c === '{' || c === '[') {
        const parent = stack[stack.length - 1];
        stack.push({ path: lastKey ?? parent?.path ?? base, table: c === '{' });
        lastKey = undefined;
        expectKey = c === '{';
        i++;
      } else if (c === '}' || c === ']') {
        stack.pop();
        if (stack.length === 0) break;
        expectKey = false;
        i++;
      } else if (c === ',') {
        expectKey = stack[stack.length - 1]?.table ?? false;
        lastKey = undefined;
        i++;
      } else if (expectKey) {
        INLINE_KEY.lastIndex = i;
        const m = INLINE_KEY.exec(value);
        expectKey = false;
        if (!m?.[1]) {
          i++;
          continue;
        }
        lastKey = this.inlineKey(stack, m[1], line, col + i);
        i += m[0].length;
      } else {
        i++;
      }
    }
  }

  private inlineKey(stack: Array<{ path: string[]; table: boolean }>, dotted: string, line: number, col: number): string[] {
    const path = [...(stack[stack.length - 1]?.path ?? []), ...splitKey(dotted)];
    // Inside an array the path lacks the item index, so the position would be filed wrongly.
    if (stack.every((s) => s.table)) this.set(path, line, col);
    return path;
  }

  private set(path: string[], line: number, column: number): void {
    const key = path.join('\u0000');
    if (!this.positions.has(key)) this.positions.set(key, { line, column });
  }

  /** Position of `path`, or of its nearest located ancestor, or undefined. */
  find(path: ReadonlyArray<string | number>): KeyPosition | undefined {
    const parts = path.map(String);
    for (let n = parts.length; n > 0; n--) {
      const pos = this.positions.get(parts.slice(0, n).join('\u0000'));
      if (pos) return pos;
    }
    return undefined;
  }
}

/**
 * Renders a key path the way operators write it: `agent.command[0]`, `notify.tg.chat_id`,
 * `agent.env."A B"`. A part longer than {@link KEY_PART_SHOWN} characters is cut (a key can be
 * a megabyte long), and control characters are escaped, so the path fits on one line.
 */
export function formatKeyPath(path: ReadonlyArray<string | number>): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else if (/^[A-Za-z0-9_-]{1,64}$/.test(p)) out += out ? `.${p}` : p;
    else out += out ? `.${quoteCut(p, KEY_PART_SHOWN)}` : quoteCut(p, KEY_PART_SHOWN);
  }
  return out || '(top level)';
}

/** Longest key part {@link formatKeyPath} shows whole. */
export const KEY_PART_SHOWN = 64;
