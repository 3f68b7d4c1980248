import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import type { NotifyConfig } from '@agent-runner/core/config';
import { openLedger } from '@agent-runner/core/ledger';
import { peekRestartRequest, readStopRequest } from '@agent-runner/core/markers';
import { projectPaths } from '@agent-runner/core/paths';
import { readPause, takeHealReset } from '@agent-runner/core/requests';
import { addressedToUs, executeCommand, parseCommand, parseDuration } from '../src/commands.js';
import { consumeCommands } from '../src/consume.js';
import { ingest, rejectReason } from '../src/inbound.js';
import type { Transport } from '../src/transport.js';
import { notifyCfg, tmp } from './helpers.js';

t.test('parsing', async (t) => {
  t.same(parseCommand('/pause 30m'), { command: 'pause', args: ['30m'] });
  t.same(parseCommand('/Status@agent_runner_bot'), { command: 'status', args: [], addressee: 'agent_runner_bot' });
  t.same(parseCommand('/pause@OtherBot 2h'), { command: 'pause', args: ['2h'], addressee: 'OtherBot' });
  t.same(parseCommand('  /heal reset bridge '), { command: 'heal', args: ['reset', 'bridge'] });
  t.equal(parseCommand('hello /stop'), undefined);
  t.equal(parseCommand('/'), undefined);
  // A bare command is ours; an addressed one only when it names us (case-insensitively).
  const cmd = (text: string) => parseCommand(text) as NonNullable<ReturnType<typeof parseCommand>>;
  t.equal(addressedToUs(cmd('/pause'), 'agent_runner_bot'), true);
  t.equal(addressedToUs(cmd('/pause'), undefined), true, 'bare: ours even when our name is unknown');
  t.equal(addressedToUs(cmd('/pause@agent_runner_bot'), 'agent_runner_bot'), true);
  t.equal(addressedToUs(cmd('/pause@Agent_Runner_BOT 1h'), 'agent_runner_bot'), true);
  t.equal(addressedToUs(cmd('/pause@otherbot'), 'agent_runner_bot'), false);
  t.equal(addressedToUs(cmd('/pause@agent_runner_bot2'), 'agent_runner_bot'), false, 'a prefix is not a match');
  t.equal(addressedToUs(cmd('/pause@agent_runner_bot'), undefined), false, 'our name unknown: no addressed command is ours');
  t.equal(addressedToUs(cmd('/pause@agent_runner_bot'), ''), false);
  t.equal(parseDuration('90s'), 90_000);
  t.equal(parseDuration('2h'), 7_200_000);
  t.equal(parseDuration('45'), 2_700_000);
  t.equal(parseDuration('1w'), undefined);
  t.equal(parseDuration('40d'), undefined);
});

function fakeTransport(cfg: NotifyConfig): Transport {
  return { name: cfg.name, type: cfg.type, config: cfg, send: async () => ({}) };
}

t.test('allow-list: sender AND configured chat; stale; disabled', async (t) => {
  const tg = fakeTransport(notifyCfg('tg', 'telegram', { chat_id: -100, allowed_user_ids: [7, '8'] }));
  const now = 1_000_000_000_000;
  const m = (sender: string, chat: string, sentAtMs = now) => ({ platformMessageId: '1', sender, chat, text: '/stop', sentAtMs });
  t.equal(rejectReason(tg, m('7', '-100'), now), undefined);
  t.equal(rejectReason(tg, m('8', '-100'), now), undefined, 'ids as strings or integers');
  t.equal(rejectReason(tg, m('9', '-100'), now), 'sender_not_allowed');
  t.equal(rejectReason(tg, m('7', '12345'), now), 'chat_not_allowed', 'an allowed user in another chat is refused');
  t.equal(rejectReason(tg, m('7', '-100', now - 20 * 60_000), now), 'stale');
  const off = fakeTransport(notifyCfg('tg', 'telegram', { chat_id: -100, allowed_user_ids: [] }));
  t.equal(rejectReason(off, m('7', '-100'), now), 'commands_disabled');
});

t.test('ingest stores allowed commands once with the cursor; refused ones are only evented', async (t) => {
  const d = tmp();
  t.teardown(d.cleanup);
  const ledger = openLedger(join(d.dir, 'l.sqlite3'));
  t.teardown(() => ledger.close());
  const tg = fakeTransport(notifyCfg('tg', 'telegram', { chat_id: 5, allowed_user_ids: [7] }));
  const events: Array<Record<string, unknown>> = [];
  const deps = { ledger, transport: tg, now: Date.now, log: () => undefined, emit: (p: Record<string, unknown>) => void events.push(p) };
  const msgs = [
    { platformMessageId: '101', sender: '7', chat: '5', text: '/pause 1h' },
    { platformMessageId: '102', sender: '666', chat: '5', text: '/stop' },
    { platformMessageId: '103', sender: '7', chat: '5', text: 'just chatting' },
  ];
  t.same(ingest(deps, msgs, '104').length, 1);
  t.equal(ledger.bridge.getCursor('inbound.tg'), '104');
  t.same(
    ledger.bridge.pendingCommands().map((c) => [c.command, c.args, c.platformMessageId]),
    [['pause', ['1h'], '101']],
  );
  t.same(
    events.map((e) => [e['command'], e['status'], e['reason']]),
    [
      ['stop', 'rejected', 'sender_not_allowed'],
      ['pause', 'accepted', undefined],
    ],
  );
  // The platform delivers the same update again (cursor lost, redelivery): nothing new.
  t.same(ingest(deps, msgs, '104'), []);
  t.equal(ledger.bridge.pendingCommands().length, 1);
});

t.test('ingest: a command addressed to another bot is ignored (not stored, not evented), ours and bare ones are taken', async (t) => {
  const d = tmp();
  t.teardown(d.cleanup);
  const ledger = openLedger(join(d.dir, 'l.sqlite3'));
  t.teardown(() => ledger.close());
  const events: Array<Record<string, unknown>> = [];
  const logs: string[] = [];
  const cfg = notifyCfg('tg', 'telegram', { chat_id: 5, allowed_user_ids: [7] });
  const named = { ...fakeTransport(cfg), botUsername: () => 'Agent_Runner_Bot' };
  const deps = (transport: Transport) => ({
    ledger,
    transport,
    now: Date.now,
    log: (_p: string, l: string) => void logs.push(l),
    emit: (p: Record<string, unknown>) => void events.push(p),
  });
  const from7 = (id: string, text: string) => ({ platformMessageId: id, sender: '7', chat: '5', text });
  const from666 = (id: string, text: string) => ({ platformMessageId: id, sender: '666', chat: '5', text });
  ingest(
    deps(named),
    [
      from7('1', '/pause@otherbot 2h'),
      from7('2', '/stop@OtherBot'),
      from666('3', '/stop@otherbot'),
      from7('4', '/status@agent_runner_bot'),
      from7('5', '/help'),
    ],
    '6',
  );
  t.same(
    ledger.bridge.pendingCommands().map((c) => [c.command, c.platformMessageId]),
    [
      ['status', '4'],
      ['help', '5'],
    ],
    'ours (any case) and the bare one',
  );
  t.same(
    events.map((e) => [e['command'], e['status']]),
    [
      ['status', 'accepted'],
      ['help', 'accepted'],
    ],
    "another bot's commands are no command_received, not even rejected ones",
  );
  t.match(logs.join('\n'), /\/pause@otherbot from 7 in 5 is addressed to another bot: ignored/);
  t.equal(ledger.bridge.getCursor('inbound.tg'), '6', 'the cursor moves past them');
  // Without a known username (a transport without one, or getMe gave none), no addressed command runs.
  events.length = 0;
  ingest(deps(fakeTransport(cfg)), [from7('7', '/stop@agent_runner_bot'), from7('8', '/resume')], '9');
  t.same(
    ledger.bridge.pendingCommands().map((c) => c.command),
    ['status', 'help', 'resume'],
  );
  t.same(
    events.map((e) => e['command']),
    ['resume'],
  );
});

t.test('commands act through markers and are acknowledged through the outbox', async (t) => {
  const d = tmp();
  t.teardown(d.cleanup);
  const paths = projectPaths('proj', join(d.dir, 'state'), join(d.dir, 'logs'));
  const ledger = openLedger(paths.ledgerPath);
  t.teardown(() => ledger.close());
  let clock = Date.parse('2026-05-01T10:00:00Z');
  const now = (): number => clock;
  const tg = fakeTransport(notifyCfg('tg', 'telegram', { chat_id: 5, allowed_user_ids: [7] }));
  const deps = { ledger, transport: tg, now, log: () => undefined, emit: () => undefined };
  let n = 0;
  const say = (text: string): void => void ingest(deps, [{ platformMessageId: String(++n), sender: '7', chat: '5', text }], String(n + 1));
  const run = (): number => consumeCommands({ ledger, paths, now, transports: new Set(['tg']), log: () => undefined });

  say('/pause 30m');
  t.equal(run(), 1);
  const pause = readPause(paths, clock);
  t.equal(pause?.until_ms, clock + 30 * 60_000);
  t.equal(pause?.requested_by, 'tg:7');
  const reply1 = ledger.outbox.getOutbox(1);
  t.equal(reply1?.transport, 'tg');
  t.equal(reply1?.kind, 'command_reply');
  t.match(reply1?.body, /Paused until 2026-05-01T10:30:00Z/);
  t.equal(ledger.bridge.getCommand(1)?.status, 'done');
  t.equal(run(), 0, 'handled once');

  say('/resume');
  run();
  t.equal(readPause(paths, clock), undefined);
  say('/stop');
  run();
  t.equal(readStopRequest(paths)?.requested_by, 'tg:7');
  say('/restart');
  run();
  t.equal(peekRestartRequest(paths, 'runner')?.requested_by, 'tg:7');
  say('/heal reset bridge');
  run();
  t.equal(takeHealReset(paths, 'bridge')?.requested_by, 'tg:7');
  say('/heal reset ../etc');
  run();
  t.equal(ledger.bridge.getCommand(n)?.status, 'rejected');
  say('/pause soon');
  run();
  t.equal(ledger.bridge.getCommand(n)?.status, 'rejected');
  say('/frobnicate');
  run();
  t.match(ledger.bridge.getCommand(n)?.result, /Unknown command \/frobnicate/);

  // /tail reads the latest round's log (redacted); /status reads ledger and markers.
  mkdirSync(paths.roundsDir, { recursive: true });
  const log = join(paths.roundsDir, 'R1.log');
  writeFileSync(log, `${Array.from({ length: 50 }, (_, i) => `line ${i}`).join('\n')}\nkey sk-ant-abcdefghijklmnopqrstuvwxyz\n`);
  ledger.runner.startRound({ runner: { pid: 1, bootId: 'b', starttimeTicks: 1, nonce: 'n' }, logFile: log, startedAtMs: clock - 1000 });
  ledger.runner.finishRound(1, { classification: 'ok', costUsd: 0.25, endedAtMs: clock });
  say('/tail 3');
  run();
  const tail = ledger.bridge.getCommand(n)?.result ?? '';
  t.match(tail, /line 48\nline 49\nkey \[redacted\]/);
  t.notMatch(tail, /sk-ant/);
  // A Claude Code round reads as what happened, not as its stream-json.
  const events = [
    { type: 'assistant', message: { content: [{ type: 'tool_use', name: 'Bash', input: { command: 'npm test' } }] } },
    { type: 'user', message: { content: [{ type: 'tool_result', content: `${'x'.repeat(2000)}\nok` }] } },
    {
      type: 'result',
      subtype: 'success',
      is_error: false,
      duration_ms: 4200,
      num_turns: 3,
      total_cost_usd: 0.0421,
      usage: { input_tokens: 10, output_tokens: 20 },
    },
  ];
  writeFileSync(log, `${events.map((e) => JSON.stringify(e)).join('\n')}\n`);
  say('/tail 5');
  run();
  const transcript = ledger.bridge.getCommand(n)?.result ?? '';
  t.match(transcript, /^tool: Bash npm test\n {2}⎿ x{10,}…\nresult: success, 4\.2 s, 3 turns, \$0\.0421, tokens in 10, out 20$/m);
  t.ok(
    transcript.split('\n').every((l) => l.length <= 300),
    'each line cut for a phone',
  );
  say('/status');
  clock += 1000;
  run();
  const status = ledger.bridge.getCommand(n)?.result ?? '';
  t.match(status, /Last round 1: ok/);
  t.match(status, /Stop requested/);
  t.match(status, /Runner: no heartbeat/);
  t.ok(existsSync(paths.stopFile));
  const help = executeCommand({ ledger, paths, now }, { ...ledger.bridge.getCommand(1)!, command: 'help', args: [] });
  t.match(help.reply, /\/heal reset <unit>/);
  t.ok(readFileSync(paths.stopFile, 'utf8').includes('tg:7'));
});
