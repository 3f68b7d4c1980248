// The one table layout of the CLI's human output: plain columns two spaces apart that, given
// the terminal's width, wrap inside their column instead of pushing the next ones out of line.
import t from 'tap';
import { table } from '../src/table.js';

t.test('no width: each column as wide as its widest cell, one line per row, no trailing spaces', async (t) => {
  const lines = table(
    [
      ['a', 'bb', 'c'],
      ['dddd', 'e', 'f'],
    ],
    { head: ['H1', 'H2', 'H3'] },
  );
  t.same(lines, ['H1    H2  H3', 'a     bb  c', 'dddd  e   f']);
});

t.test('right-aligned columns and an indent', async (t) => {
  t.same(
    table(
      [
        ['1', 'x'],
        ['100', 'y'],
      ],
      { right: [0], indent: 2 },
    ),
    ['    1  x', '  100  y'],
  );
});

t.test('a cell of several lines keeps its column on each of them', async (t) => {
  t.same(table([['warn', 'state_dir', 'missing\nfix: run serve']]), ['warn  state_dir  missing', '                 fix: run serve']);
});

t.test('given a width: the widest column wraps, every line fits, the columns stay in line', async (t) => {
  const long = 'a detail of many words that cannot fit on one line of a narrow terminal at all';
  const lines = table(
    [
      ['ok', 'short', 'fine'],
      ['fail', 'name', long],
    ],
    { head: ['STATUS', 'NAME', 'DETAIL'], width: 40 },
  );
  t.ok(lines.length > 3, 'the long cell wrapped');
  const at = (lines[0] as string).indexOf('DETAIL');
  for (const l of lines) {
    t.ok(l.length <= 40, `fits in 40: ${JSON.stringify(l)}`);
    t.match(l.slice(at - 2), /^ {2}\S/, `DETAIL text starts in its column: ${JSON.stringify(l)}`);
  }
  for (const l of lines.slice(3)) t.match(l.slice(0, at), /^ +$/, 'a continuation is blank up to the column');
  t.equal(
    lines
      .slice(2)
      .map((l) => l.slice(at))
      .join(' '),
    long,
    'every word kept, in order',
  );
});

t.test('a word wider than its column is broken across lines, not cut short', async (t) => {
  const path = '/var/lib/agent-runner/a-project-with-a-rather-long-name/ledger.sqlite3';
  const lines = table([['warn', 'ledger', `${path} does not exist yet`]], { width: 40 });
  t.ok(lines.length > 2);
  for (const l of lines) {
    t.ok(l.length <= 40, `fits in 40: ${JSON.stringify(l)}`);
    t.match(l.slice(0, 14), /^(warn {2}ledger {2}| {14})$/, 'the third column starts at the same offset on every line');
  }
  t.equal(
    lines
      .map((l) => l.slice(14))
      .join('')
      .replace(/ /g, ''),
    `${path}doesnotexistyet`,
    'nothing cut short',
  );
});

t.test('no column narrower than 8: past that the table overflows the width', async (t) => {
  const lines = table([['abcdefghij', 'klmnopqrst']], { width: 10 });
  t.same(lines, ['abcdefgh  klmnopqr', 'ij        st']);
});

t.test('no rows: the heading alone, or nothing', async (t) => {
  t.same(table([]), []);
  t.same(table([], { head: ['A', 'B'] }), ['A  B']);
});
