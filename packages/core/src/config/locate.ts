/**
 * Maps dotted key paths of a TOML document to the line and column where each key is written,
 * so schema and semantic errors can point at the source. smol-toml does not report value
 * positions, so this is a small line scanner over the subset of TOML that positions need:
 * table headers, `key = value` lines (bare, quoted and dotted keys), one-line inline tables,
 * and skipping of multi-line strings and arrays. It never throws; an unknown path falls back
 * to its nearest located ancestor.
 */

/** 1-based position of a key in the source. */
export interface KeyPosition {
  line: number;
  column: number;
}

const KEY_PART = String.raw`(?:[A-Za-z0-9_-]+|"(?:[^"\\]|\\.)*"|'[^']*')`;
const DOTTED_KEY = new RegExp(String.raw`^(${KEY_PART}(?:\s*\.\s*${KEY_PART})*)\s*=`);
const INLINE_KEY = new RegExp(String.raw`(${KEY_PART}(?:\s*\.\s*${KEY_PART})*)\s*=`, 'g');

function splitKey(dotted: string): string[] {
  const parts: string[] = [];
  const re = new RegExp(KEY_PART, 'g');
  for (const m of dotted.matchAll(re)) {
    const p = m[0];
    parts.push(p.startsWith('"') ? (JSON.parse(p) as string) : p.startsWith("'") ? p.slice(1, -1) : p);
  }
  return parts;
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
      const header = /^\[\[?\s*([^\]]+?)\s*\]\]?/.exec(text);
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
      if (value.startsWith('{')) this.inline(path, value, lineNo, indent + 1 + kv[0].length + (text.length - kv[0].length - value.length));
      else if (value.startsWith('[')) arrayDepth = Math.max(0, bracketDelta(value));
    });
  }

  private inline(base: string[], value: string, line: number, col: number): void {
    for (const m of value.matchAll(INLINE_KEY)) {
      if (m[1]) this.set([...base, ...splitKey(m[1])], line, col + (m.index ?? 0));
    }
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

/** Renders a key path the way operators write it: `agent.command[0]`, `notify.tg.chat_id`. */
export function formatKeyPath(path: ReadonlyArray<string | number>): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else if (/^[A-Za-z0-9_-]+$/.test(p)) out += out ? `.${p}` : p;
    else out += out ? `.${JSON.stringify(p)}` : JSON.stringify(p);
  }
  return out || '(top level)';
}
