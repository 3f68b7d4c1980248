/**
 * Turns the agent's raw output stream into lines for the classifier.
 *
 * Line numbers match the round log: line N is what `sed -n Np` prints from the log, because
 * only `\n` ends a line. A bare `\r` (a progress redraw in a terminal) does not start a new
 * line; it rewinds the current one, so the text handed on is what the terminal would show
 * last. ANSI escape sequences (ECMA-48 CSI, OSC/DCS/PM/APC/SOS strings, two- and three-byte
 * ESC sequences, 8-bit CSI) are dropped, even when split across chunks. A line longer than
 * the cap keeps its first `maxLineLength` characters and is flagged truncated, so one huge
 * line cannot grow memory without bound.
 */
import { StringDecoder } from 'node:string_decoder';

/** One line of output, ready for `Classifier.line()`. */
export interface SplitLine {
  /** Text without the line end, ANSI sequences and `\r` rewinds. */
  text: string;
  /** 1-based line number in the round log. */
  lineNo: number;
  /** The line was longer than the cap; `text` holds its first `maxLineLength` characters. */
  truncated: boolean;
}

/** Options of {@link LineSplitter}. */
export interface LineSplitterOptions {
  /** Cap on one line, in UTF-16 code units (= bytes for ASCII); default 1 MiB. */
  maxLineLength?: number;
}

/** Default cap on one line: 1 MiB. */
export const DEFAULT_MAX_LINE_LENGTH = 1024 * 1024;

// Escape-parser states.
const Esc = {
  None: 0,
  /** After ESC. */
  Esc: 1,
  /** After ESC and an intermediate byte (0x20-0x2f), e.g. `ESC ( B`. */
  EscIntermediate: 2,
  /** Inside a CSI sequence, until its final byte 0x40-0x7e. */
  Csi: 3,
  /** Inside an OSC/DCS/PM/APC/SOS string, until BEL or ST. */
  Str: 4,
  /** ESC seen inside a string: `\` completes ST. */
  StrEsc: 5,
} as const;
type EscState = (typeof Esc)[keyof typeof Esc];

// Characters that need the state machine; everything else is copied in bulk.
const SPECIAL = /[\n\r\x1b\x9b]/g;

/**
 * Stateful splitter; one per round. Not thread-safe, not reusable after {@link end}.
 */
export class LineSplitter {
  private readonly max: number;
  private readonly decoder = new StringDecoder('utf8');
  private parts: string[] = [];
  private len = 0;
  private truncated = false;
  private pendingCR = false;
  private esc: EscState = Esc.None;
  private count = 0;

  constructor(opts: LineSplitterOptions = {}) {
    this.max = Math.max(1, opts.maxLineLength ?? DEFAULT_MAX_LINE_LENGTH);
  }

  /** Lines emitted so far (= the number of the last emitted line). */
  get lines(): number {
    return this.count;
  }

  /**
   * Feeds one chunk as the agent wrote it. Buffers are decoded as UTF-8, a multi-byte
   * character split across chunks is joined; invalid bytes become U+FFFD.
   * @returns the lines completed by this chunk, in order.
   */
  push(chunk: Buffer | string): SplitLine[] {
    const out: SplitLine[] = [];
    this.feed(typeof chunk === 'string' ? chunk : this.decoder.write(chunk), out);
    return out;
  }

  /** Flushes the last line if it has no `\n` (and is not empty). */
  end(): SplitLine[] {
    const out: SplitLine[] = [];
    this.feed(this.decoder.end(), out);
    if (this.len > 0 || this.truncated) this.emit(out);
    return out;
  }

  private emit(out: SplitLine[]): void {
    const text = this.parts.length === 1 ? (this.parts[0] as string) : this.parts.join('');
    this.count += 1;
    out.push({ text, lineNo: this.count, truncated: this.truncated });
    this.rewind();
  }

  private rewind(): void {
    this.parts = [];
    this.len = 0;
    this.truncated = false;
  }

  private append(s: string): void {
    if (s.length === 0) return;
    if (this.pendingCR) {
      // Text after a bare CR overwrites the line from column 0.
      this.pendingCR = false;
      this.rewind();
    }
    if (this.truncated) return;
    const room = this.max - this.len;
    if (s.length > room) {
      s = s.slice(0, room);
      this.truncated = true;
    }
    if (s.length > 0) {
      this.parts.push(s);
      this.len += s.length;
    }
  }

  private feed(s: string, out: SplitLine[]): void {
    const n = s.length;
    let i = 0;
    while (i < n) {
      switch (this.esc) {
        case Esc.None: {
          SPECIAL.lastIndex = i;
          const m = SPECIAL.exec(s);
          const j = m ? m.index : n;
          if (j > i) this.append(s.slice(i, j));
          if (j >= n) return;
          const c = s.charCodeAt(j);
          i = j + 1;
          if (c === 0x0a) {
            this.pendingCR = false;
            this.emit(out);
          } else if (c === 0x0d) {
            this.pendingCR = true;
          } else if (c === 0x1b) {
            this.esc = Esc.Esc;
          } else {
            this.esc = Esc.Csi;
          }
          break;
        }
        case Esc.Esc: {
          const c = s.charCodeAt(i);
          if (c === 0x5b) {
            this.esc = Esc.Csi;
            i++;
          } else if (c === 0x5d || c === 0x50 || c === 0x58 || c === 0x5e || c === 0x5f) {
            this.esc = Esc.Str; // ] OSC, P DCS, X SOS, ^ PM, _ APC
            i++;
          } else if (c >= 0x20 && c <= 0x2f) {
            this.esc = Esc.EscIntermediate;
            i++;
          } else if (c < 0x20) {
            // A control character aborts the sequence and is processed normally.
            this.esc = Esc.None;
          } else {
            this.esc = Esc.None; // two-byte sequence such as ESC 7, ESC =, ESC M
            i++;
          }
          break;
        }
        case Esc.EscIntermediate: {
          const c = s.charCodeAt(i);
          if (c < 0x20) this.esc = Esc.None;
          else {
            i++;
            if (c >= 0x30) this.esc = Esc.None;
          }
          break;
        }
        case Esc.Csi: {
          // Parameters 0x30-0x3f and intermediates 0x20-0x2f, then one final byte 0x40-0x7e.
          for (; i < n; i++) {
            const c = s.charCodeAt(i);
            if (c < 0x20) {
              this.esc = Esc.None;
              break;
            }
            if (c >= 0x40) {
              this.esc = Esc.None;
              i++;
              break;
            }
          }
          break;
        }
        case Esc.Str: {
          for (; i < n; i++) {
            const c = s.charCodeAt(i);
            if (c === 0x07 || c === 0x9c) {
              this.esc = Esc.None;
              i++;
              break;
            }
            if (c === 0x1b) {
              this.esc = Esc.StrEsc;
              i++;
              break;
            }
            // A newline cannot belong to these strings; keep line numbers in step with the log.
            if (c === 0x0a) {
              this.esc = Esc.None;
              break;
            }
          }
          break;
        }
        case Esc.StrEsc: {
          const c = s.charCodeAt(i);
          if (c === 0x5c) {
            this.esc = Esc.None; // ST
            i++;
          } else {
            this.esc = Esc.Esc; // a new sequence starts; the string was cut short
          }
          break;
        }
      }
    }
  }
}
