import Table from 'cli-table3';

/** How {@link table} lays out its rows. */
export interface TableOptions {
  /** A heading row, printed first like any other row. */
  head?: readonly string[];
  /** Indexes of the columns aligned right (numbers); the others are aligned left. */
  right?: readonly number[];
  /** Spaces before every line, for a table nested under a heading line. */
  indent?: number;
  /**
   * The widest a line may be, indent included: the terminal's width (`CliContext.columns`).
   * Undefined when stdout is a pipe or a file: no limit.
   */
  width?: number | undefined;
}

/** Between two columns. */
const GAP = 2;
/** Narrower than this a column is not made: past that point the table overflows instead. */
const MIN_WIDTH = 8;

// Borderless: the output reads as plain aligned columns, for grep and awk as much as for eyes.
// No colour either (cli-table3 colours the heading red and the borders grey by default).
const PLAIN = {
  chars: {
    top: '',
    'top-mid': '',
    'top-left': '',
    'top-right': '',
    bottom: '',
    'bottom-mid': '',
    'bottom-left': '',
    'bottom-right': '',
    left: '',
    'left-mid': '',
    mid: '',
    'mid-mid': '',
    right: '',
    'right-mid': '',
    middle: ' '.repeat(GAP),
  },
  style: { 'padding-left': 0, 'padding-right': 0, head: [], border: [] },
};

const cellWidth = (cell: string): number => Math.max(0, ...cell.split('\n').map((l) => [...l].length));

/** The widest columns narrowed to one common cap, just enough for the whole to fit in `room`. */
function fit(natural: number[], room: number): number[] {
  let cap = Math.max(...natural);
  const total = (): number => natural.reduce((s, w) => s + Math.min(w, cap), 0);
  while (cap > MIN_WIDTH && total() > room) cap -= 1;
  return natural.map((w) => Math.min(w, cap));
}

// cli-table3 cuts a word wider than its column short with '…'; a path in a doctor detail must
// survive whole, so such a word is broken across lines instead.
const breakLongWords = (cell: string, width: number): string =>
  cell.replace(/\S+/gu, (word) => ([...word].length <= width ? word : (word.match(new RegExp(`.{1,${width}}`, 'gu')) ?? []).join('\n')));

/**
 * Lays out rows of text cells (a cell may hold several lines, `\n`-separated) as columns
 * two spaces apart, left-aligned unless listed in `right`, without borders or colour, trailing
 * spaces trimmed. Returns the lines, to print one by one.
 *
 * Width: each column is as wide as its widest cell. When `width` is given and the table would
 * be wider, the widest columns are narrowed to a common width (no narrower than 8) until it
 * fits, and their cells wrap at spaces, a word longer than its column broken across lines: no
 * cell is cut short, and every column starts at the same offset on every line. Without
 * `width` nothing wraps: one line per row (plus a cell's own line breaks).
 */
export function table(rows: readonly (readonly string[])[], opts: TableOptions = {}): string[] {
  const all = opts.head ? [opts.head, ...rows] : rows;
  const columns = Math.max(0, ...all.map((r) => r.length));
  if (columns === 0) return [];
  const indent = ' '.repeat(opts.indent ?? 0);
  const natural = Array.from({ length: columns }, (_, i) => Math.max(...all.map((r) => cellWidth(r[i] ?? ''))));
  const widths = opts.width === undefined ? natural : fit(natural, opts.width - indent.length - GAP * (columns - 1));
  const t = new Table({
    ...PLAIN,
    head: opts.head ? opts.head.map((c, i) => breakLongWords(c, widths[i] as number)) : [],
    colAligns: widths.map((_, i) => (opts.right?.includes(i) ? 'right' : 'left')),
    ...(opts.width === undefined ? {} : { colWidths: widths, wordWrap: true }),
  });
  for (const r of rows) t.push(widths.map((w, i) => breakLongWords(r[i] ?? '', w)));
  return t
    .toString()
    .split('\n')
    .map((l) => `${indent}${l}`.trimEnd());
}
