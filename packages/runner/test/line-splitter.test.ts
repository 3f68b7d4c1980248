import t from 'tap';
import { LineSplitter, type SplitLine } from '../src/line-splitter.js';

function split(chunks: (string | Buffer)[], max?: number): SplitLine[] {
  const s = new LineSplitter(max === undefined ? {} : { maxLineLength: max });
  const out: SplitLine[] = [];
  for (const c of chunks) out.push(...s.push(c));
  out.push(...s.end());
  return out;
}
const texts = (l: SplitLine[]): string[] => l.map((x) => x.text);

t.test('LF, CRLF and a final partial line; numbers match the log', async (t) => {
  const l = split(['a\nb\r', '\nc\r\nlast']);
  t.same(texts(l), ['a', 'b', 'c', 'last']);
  t.same(
    l.map((x) => x.lineNo),
    [1, 2, 3, 4],
  );
  t.same(texts(split(['x\n'])), ['x'], 'no empty line after a final newline');
  t.same(texts(split(['\n\n'])), ['', ''], 'empty lines keep their numbers');
});

t.test('bare CR rewinds the line: the last redraw wins, numbering unchanged', async (t) => {
  const l = split(['progress 10%\rprogress 5', '0%\rprogress 100%\r\nnext\n']);
  t.same(texts(l), ['progress 100%', 'next']);
  t.same(
    l.map((x) => x.lineNo),
    [1, 2],
  );
  t.same(texts(split(['abc\r'])), ['abc'], 'a trailing CR alone keeps the text');
});

t.test('ANSI CSI, OSC, DCS, charset and 8-bit CSI sequences are stripped, even split across chunks', async (t) => {
  const raw =
    '\x1b[1;31mred\x1b[0m \x1b]0;title\x07plain \x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\ \x1b(Bcs \x1bPq#0;2\x1b\\dcs \x9b2Kend\n';
  t.same(texts(split([raw])), ['red plain link cs dcs end']);
  const one: string[] = [];
  const s = new LineSplitter();
  for (const ch of raw) one.push(...s.push(ch).map((x) => x.text));
  t.same(one, ['red plain link cs dcs end'], 'one character per chunk');
  t.same(texts(split(['\r\x1b[Kspinner |\r\x1b[Kspinner /\r\x1b[Kdone\n'])), ['done']);
});

t.test('a newline always ends a line, even inside a malformed escape', async (t) => {
  const l = split(['\x1b]0;unterminated title\nnext\n', '\x1b[12\nafter\n']);
  t.same(texts(l), ['', 'next', '', 'after']);
  t.same(
    l.map((x) => x.lineNo),
    [1, 2, 3, 4],
  );
});

t.test('UTF-8 split across Buffer chunks is joined', async (t) => {
  const b = Buffer.from('héllo ✓ 𝄞\n');
  const chunks = [...b].map((x) => Buffer.from([x]));
  t.same(texts(split(chunks)), ['héllo ✓ 𝄞']);
});

t.test('a huge line is capped and flagged; memory stays bounded', async (t) => {
  const s = new LineSplitter({ maxLineLength: 1000 });
  const block = 'y'.repeat(64 * 1024);
  let got: SplitLine[] = [];
  for (let i = 0; i < 160; i++) got.push(...s.push(block)); // 10 MiB without a newline
  t.same(got, []);
  got = s.push('\nshort\n');
  t.equal(got.length, 2);
  t.equal(got[0]?.text.length, 1000);
  t.equal(got[0]?.truncated, true);
  t.same(got[1], { text: 'short', lineNo: 2, truncated: false });
  const d = split(['z'.repeat(5000)], 100);
  t.same(
    d.map((x) => [x.text.length, x.truncated]),
    [[100, true]],
    'flushed at end, still truncated',
  );
});

t.test('throughput', async (t) => {
  const line = `{"type":"assistant","message":{"content":[{"type":"text","text":"${'w'.repeat(200)}"}]}}\n`;
  const chunk = Buffer.from(line.repeat(300)); // ~70 KiB
  const s = new LineSplitter();
  const t0 = performance.now();
  let n = 0;
  for (let i = 0; i < 300; i++) n += s.push(chunk).length;
  const ms = performance.now() - t0;
  const mb = (chunk.length * 300) / 1e6;
  t.equal(n, 90000);
  t.comment(`${mb.toFixed(1)} MB in ${ms.toFixed(0)} ms (${(mb / (ms / 1000)).toFixed(0)} MB/s)`);
  t.ok(ms < 5000);
});
