import t from 'tap';
import { spawn } from 'node:child_process';
import {
  appendFileSync,
  closeSync,
  ftruncateSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  realpathSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openRoundLog, parseRoundLogName, pruneRoundLogs, readTail, roundLogName, tailLines } from '../src/round-log.js';

const base = mkdtempSync(join(tmpdir(), 'ar-roundlog-'));
let n = 0;
function dirs() {
  const logs = join(base, `logs-${++n}`);
  return { roundsDir: join(logs, 'rounds'), currentLink: join(logs, 'round-current.log'), logs };
}

t.test('names: R<N>-<UTC stamp>.log, parsed back', async (t) => {
  const ms = Date.UTC(2026, 0, 2, 3, 4, 5, 678);
  t.equal(roundLogName(42, ms), 'R42-20260102T030405Z.log');
  t.same(parseRoundLogName('R42-20260102T030405Z.log'), { round: 42, startedAtMs: Date.UTC(2026, 0, 2, 3, 4, 5) });
  t.equal(parseRoundLogName('R42.log'), undefined);
  t.equal(parseRoundLogName('round-current.log'), undefined);
});

t.test('raw bytes are written as they arrive, mode 0600, link follows the live file', async (t) => {
  const d = dirs();
  const log = openRoundLog({ ...d, round: 1, startedAtMs: Date.UTC(2026, 4, 1, 12, 0, 0) });
  t.equal(log.path, join(d.roundsDir, 'R1-20260501T120000Z.log'));
  t.equal(statSync(log.path).mode & 0o777, 0o600);
  t.equal(statSync(d.roundsDir).mode & 0o777, 0o700);
  t.equal(readlinkSync(d.currentLink), 'rounds/R1-20260501T120000Z.log', 'relative target');
  const raw = Buffer.from([0x68, 0x69, 0xff, 0xfe, 0x0d, 0x0a, 0x1b, 0x5b, 0x30, 0x6d]);
  log.write(raw);
  t.same(readFileSync(d.currentLink), raw, 'visible through the link before close');
  log.write('ünï\n');
  t.equal(log.bytes, raw.length + Buffer.byteLength('ünï\n'));
  log.close();
  log.close();
  log.write('after close');
  t.equal(log.droppedBytes, 11);
  const log2 = openRoundLog({ ...d, round: 2, startedAtMs: Date.UTC(2026, 4, 1, 12, 30, 0) });
  t.equal(realpathSync(d.currentLink), realpathSync(log2.path), 'repointed to round 2');
  log2.close();
  t.same(readdirSync(d.logs).sort(), ['round-current.log', 'rounds'], 'no temp links left');
});

t.test('the link is never missing while it is repointed', async (t) => {
  const d = dirs();
  openRoundLog({ ...d, round: 1, startedAtMs: 0 }).close();
  // A separate process checks the link as fast as it can while we repoint it.
  const watcher = spawn('sh', ['-c', `n=0; while [ ! -e "$1.stop" ]; do [ -e "$1" ] || n=$((n+1)); done; echo "$n"`, 'sh', d.currentLink], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  watcher.stdout.on('data', (c) => (out += c));
  const rounds = Number(process.env.AR_TEST_REPOINTS ?? 400);
  for (let r = 2; r <= rounds; r++) {
    openRoundLog({ ...d, round: r, startedAtMs: r * 1000 }).close();
    if (r % 50 === 0) await new Promise((res) => setImmediate(res));
  }
  writeFileSync(`${d.currentLink}.stop`, '');
  await new Promise((res) => watcher.on('close', res));
  t.equal(out.trim(), '0', `link never missing across ${rounds} repoints`);
  t.equal(readlinkSync(d.currentLink), `rounds/${roundLogName(rounds, rounds * 1000)}`);
});

t.test('write failures are counted, never thrown', async (t) => {
  if (!statSync('/dev/full', { throwIfNoEntry: false })) {
    t.pass('no /dev/full on this host');
    return;
  }
  // The log's name is a link to /dev/full: every write fails with ENOSPC, like a full disk.
  const full = dirs();
  mkdirSync(full.roundsDir, { recursive: true });
  symlinkSync('/dev/full', join(full.roundsDir, roundLogName(1, 0)));
  const bad = openRoundLog({ ...full, round: 1, startedAtMs: 0 });
  t.doesNotThrow(() => bad.write('x'.repeat(100)));
  t.equal(bad.error?.message.includes('ENOSPC'), true);
  t.equal(bad.error?.code, 'ENOSPC');
  bad.write('more');
  t.equal(bad.droppedBytes, 104);
  bad.close();
});

t.test('a log that cannot be created is returned anyway: it drops and counts, the error says why', async (t) => {
  const d = dirs();
  mkdirSync(d.logs, { recursive: true });
  writeFileSync(d.roundsDir, 'a file where the directory belongs');
  let log: ReturnType<typeof openRoundLog> | undefined;
  t.doesNotThrow(() => (log = openRoundLog({ ...d, round: 1, startedAtMs: 0 })));
  t.match(log?.error, { code: /^E(EXIST|NOTDIR)$/ });
  log?.write('abc');
  t.equal(log?.droppedBytes, 3);
  t.equal(log?.bytes, 0);
  t.doesNotThrow(() => log?.close());
});

t.test('a round-current.log that cannot be repointed: the error is kept, the log is still written', async (t) => {
  const d = dirs();
  mkdirSync(join(d.currentLink, 'in-the-way'), { recursive: true });
  const log = openRoundLog({ ...d, round: 1, startedAtMs: 0 });
  t.ok(log.error?.code, `error ${log.error?.code}`);
  log.write('kept\n');
  log.close();
  t.equal(readFileSync(log.path, 'utf8'), 'kept\n');
  t.equal(log.droppedBytes, 0);
});

function makeLogs(dir: string, rounds: number[], size: number): void {
  mkdirSync(dir, { recursive: true });
  for (const r of rounds) writeFileSync(join(dir, roundLogName(r, Date.UTC(2026, 0, 1) + r * 60_000)), 'x'.repeat(size));
}

t.test('prune by count, oldest round first, by name not mtime', async (t) => {
  const d = dirs();
  makeLogs(d.roundsDir, [1, 2, 3, 9, 10, 11, 100], 10);
  // Make the oldest rounds look newest by mtime: must not matter.
  utimesSync(join(d.roundsDir, roundLogName(1, Date.UTC(2026, 0, 1) + 60_000)), new Date(), new Date(Date.now() + 1e7));
  writeFileSync(join(d.roundsDir, 'notes.txt'), 'keep me');
  const r = pruneRoundLogs(d.roundsDir, { keep: 3 });
  t.same(
    r.removed.map((p) => parseRoundLogName(p.split('/').pop()!)?.round),
    [1, 2, 3, 9],
    'numeric order (9 before 10 before 100)',
  );
  t.equal(r.keptCount, 3);
  t.same(
    readdirSync(d.roundsDir).sort(),
    [
      roundLogName(10, Date.UTC(2026, 0, 1) + 600_000),
      roundLogName(100, Date.UTC(2026, 0, 1) + 6_000_000),
      roundLogName(11, Date.UTC(2026, 0, 1) + 660_000),
      'notes.txt',
    ].sort(),
  );
});

t.test('prune by total bytes; the live log is protected', async (t) => {
  const d = dirs();
  makeLogs(d.roundsDir, [1, 2, 3, 4, 5], 1000);
  const live = join(d.roundsDir, roundLogName(1, Date.UTC(2026, 0, 1) + 60_000));
  const r = pruneRoundLogs(d.roundsDir, { keep: 100, maxTotalBytes: 2500, protect: [live] });
  t.same(
    r.removed.map((p) => parseRoundLogName(p.split('/').pop()!)?.round),
    [2, 3, 4],
  );
  t.equal(r.keptBytes, 2000);
  t.ok(statSync(live).isFile(), 'protected file kept although oldest');
  t.same(pruneRoundLogs(join(d.logs, 'missing'), { keep: 1 }), { removed: [], keptCount: 0, keptBytes: 0 });
});

t.test('tailLines: line ends, short files, empty files', async (t) => {
  const d = dirs();
  mkdirSync(d.logs, { recursive: true });
  const p = join(d.logs, 'f.log');
  writeFileSync(p, 'a\nb\r\nc\n');
  t.same(tailLines(p, 2), ['b', 'c']);
  t.same(tailLines(p, 10), ['a', 'b', 'c']);
  writeFileSync(p, 'a\nb\npartial');
  t.same(tailLines(p, 2), ['b', 'partial']);
  writeFileSync(p, '');
  t.same(tailLines(p, 5), []);
  writeFileSync(p, '\n\n');
  t.same(tailLines(p, 5), ['', '']);
  t.same(readTail(p, 0).lines, []);
  // Small chunks exercise boundaries, including inside multi-byte characters.
  writeFileSync(p, Array.from({ length: 50 }, (_, i) => `línea ${i} ✓`).join('\n') + '\n');
  t.same(readTail(p, 3, { chunkBytes: 7 }).lines, ['línea 47 ✓', 'línea 48 ✓', 'línea 49 ✓']);
  t.throws(() => tailLines(join(d.logs, 'none'), 1), { code: 'ERR_AR_IO' });
});

t.test('tailLines on a huge file reads only its end', async (t) => {
  const d = dirs();
  mkdirSync(d.logs, { recursive: true });
  const p = join(d.logs, 'huge.log');
  // A 4 GiB sparse file: reading it whole would take far longer than this test allows.
  const fd = openSync(p, 'w');
  ftruncateSync(fd, 4 * 1024 ** 3);
  closeSync(fd);
  appendFileSync(p, Array.from({ length: 1000 }, (_, i) => `line ${i}`).join('\n') + '\n');
  const t0 = performance.now();
  const r = readTail(p, 5);
  const ms = performance.now() - t0;
  t.same(r.lines, ['line 995', 'line 996', 'line 997', 'line 998', 'line 999']);
  t.ok(r.bytesRead <= 64 * 1024, `read ${r.bytesRead} bytes of ${statSync(p).size}`);
  t.ok(ms < 100, `${ms.toFixed(2)} ms`);
  const capped = readTail(p, 2000, { maxBytes: 128 * 1024 });
  t.equal(capped.bytesRead, 128 * 1024, 'never more than maxBytes');
  t.equal(capped.capped, true);
});
