// `watch` in a real terminal: tmux (run by scripts/ci/tui.sh) at 80x24 and 200x50, a serve
// whose agent prints Claude Code stream-json and keeps its round running. The screen is read
// with `tmux capture-pane`: every row fits, the state is pinned at the top and the key hints
// at the bottom, the newest round first, the live transcript; a resize redraws at the new
// size, `l` and `e` switch views, `q` quits back to the shell's screen.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { CLI_BIN } from '@agent-runner/testkit/project';
import { until } from '@agent-runner/testkit/until';
import { agentProject, startServe } from '../test/serve-helpers.js';

const capture = fileURLToPath(new URL('../../runner/test/fixtures/claude/claude-2.1.330-success-write-tool.jsonl', import.meta.url));
// Round 1 ends at once; round 2 prints the capture's first four events and stays running.
const p = agentProject(
  `cat > /dev/null\nif [ "$AGENT_RUNNER_ROUND" = 1 ]; then echo RESULT done; exit 0; fi\nhead -n 4 '${capture}'\nexec sleep 300`,
);
t.teardown(p.cleanup);
const serve = startServe(p);
// The second SIGTERM interrupts the round in progress (the first would let it finish).
t.teardown(async () => {
  serve.child.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 300));
  serve.child.kill('SIGTERM');
  await serve.exited;
});

const session = `ar-watch-${process.pid}`;
const tmux = (...args: string[]): string => execFileSync('tmux', ['-L', session, ...args], { encoding: 'utf8' });
const screen = (): string[] => tmux('capture-pane', '-p', '-t', session).replace(/\n$/, '').split('\n');
const env = Object.entries(p.env).map(([k, v]) => `${k}=${v}`);
tmux(
  'new-session',
  '-d',
  '-s',
  session,
  '-x',
  '80',
  '-y',
  '24',
  'env',
  '-i',
  ...env,
  'TERM=xterm-256color',
  'sh',
  '-c',
  `cd '${p.dir}' && echo shell-before; ${process.execPath} ${CLI_BIN} watch --interval 0.5; echo "watch exited $?"; sleep 60`,
);
t.teardown(() => void execFileSync('tmux', ['-L', session, 'kill-server']));

t.test('80x24: fits, state pinned, newest round first, the live transcript, key hints', async (t) => {
  await until(
    () => `watch to show round 2's transcript:\n${screen().join('\n')}`,
    () => screen().some((l) => l.startsWith('tool: Write')),
    20_000,
  );
  const s = screen();
  t.comment(`80x24:\n${s.join('\n')}`);
  t.equal(s.length, 24);
  t.ok(
    s.every((l) => [...l].length <= 80),
    'no row wider than the terminal',
  );
  t.match(s[0], /^project proj {2}RUNNING pid \d+/, 'state on the first row');
  t.match(s.at(-1), /^q quit {2}l transcript {2}e events {2}\(every 0\.5s, \d\d:\d\d:\d\dZ\)/, 'key hints on the last row');
  const head = s.findIndex((l) => /^round\s+class/.test(l));
  t.match(s[head + 1], /^\s*2\s+running\s+-\s+-\s+-\s+\d\d:\d\d:\d\d$/, 'the newest round first');
  t.match(s[head + 2], /^\s*1\s+ok\s+0\s+\S+s\s+-\s+\d\d:\d\d:\d\d$/, 'each round in one row, its start as a time of day');
  t.ok(s.includes('transcript of round 2 (running):'));
  t.match(s.join('\n'), /assistant: Creating the file\.\ntool: Write \S+hello\.txt/, 'the transcript, not the stream-json');
  t.notMatch(s.join('\n'), /"type":/);
});

t.test('a resize to 200x50 redraws at the new size; l and e switch views; q quits', async (t) => {
  tmux('resize-window', '-t', session, '-x', '200', '-y', '50');
  await until(
    () => `a 50-row frame:\n${screen().join('\n')}`,
    () => screen().length === 50 && /^q quit/.test(screen().at(-1) ?? ''),
    10_000,
  );
  t.ok(screen().every((l) => [...l].length <= 200));
  tmux('send-keys', '-t', session, 'l');
  await until(
    () => 'the transcript view',
    () => /^q quit {2}l back/.test(screen().at(-1) ?? ''),
    5000,
  );
  t.notOk(
    screen().some((l) => /^round\s+class/.test(l)),
    'no rounds table in the transcript view',
  );
  tmux('send-keys', '-t', session, 'e');
  await until(
    () => `the events view:\n${screen().join('\n')}`,
    () => screen().includes('events, newest first:'),
    5000,
  );
  t.match(screen().join('\n'), /round_start round=2/);
  tmux('send-keys', '-t', session, 'q');
  await until(
    () => `the shell's screen back:\n${screen().join('\n')}`,
    () => screen().some((l) => l === 'watch exited 0'),
    5000,
  );
  t.ok(screen().includes('shell-before'), 'the alternate screen is left: what was there before is back');
});
