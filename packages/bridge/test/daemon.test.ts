import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { configPaths, parseConfig, type AgentRunnerConfig } from '@agent-runner/core/config';
import { openLedger } from '@agent-runner/core/ledger';
import { readExitRecord } from '@agent-runner/core/unit';
import { requestRestart } from '@agent-runner/core/markers';
import { readPause } from '@agent-runner/core/requests';
import { until } from '@agent-runner/testkit/until';
import { start } from '../src/daemon.js';
import { diskFullLedger, tmp } from './helpers.js';
import { matrixStub, telegramStub } from './stubs.js';

const TOKEN = '77:telegram-token';
const ROOM = '!ops:hs';

function config(dir: string, tgUrl: string, mxUrl: string, extra = ''): AgentRunnerConfig {
  const toml = `
project = "demo"
[agent]
command = ["true"]
[prompt]
file = "PROMPT.md"
[runtime]
state_dir = "${dir}/state"
[bridge]
poll_interval_s = 1
${extra}
[notify.tg]
type = "telegram"
chat_id = 5
api_url = "${tgUrl}"
bot_token_env = "TG"
min_severity = "info"
allowed_user_ids = [7]
[notify.mx]
type = "matrix"
homeserver = "${mxUrl}"
room_id = "${ROOM}"
access_token_env = "MX"
min_severity = "info"
`;
  return parseConfig(toml, join(dir, 'agent-runner.toml'), { env: { HOME: dir }, mode: 'user', skipFileChecks: true });
}

t.test('the daemon: lifecycle, idle delivery latency, commands, restart marker, clean stop', async (t) => {
  const d = tmp();
  const tg = await telegramStub(TOKEN);
  const mx = await matrixStub('mxtok', ROOM);
  t.teardown(async () => {
    await tg.close();
    await mx.close();
    d.cleanup();
  });
  const cfg = config(d.dir, tg.url, mx.url);
  const paths = configPaths(cfg);
  const logs: string[] = [];
  const stop = new AbortController();
  t.teardown(() => stop.abort());
  const notes: Array<{ msg: string[]; heartbeat: boolean }> = [];
  const heartbeatFile = join(paths.runDir, 'heartbeat-bridge.json');
  const notify = (msg: string[]): void => void notes.push({ msg, heartbeat: existsSync(heartbeatFile) });
  const argv = ['/usr/bin/node', '/opt/agent-runner/bin.js', 'bridge', '--config', join(d.dir, 'agent-runner.toml')];
  const done = start(cfg, {
    pid: process.pid,
    env: { TG: TOKEN, MX: 'mxtok' },
    stop: stop.signal,
    log: (p, l) => void logs.push(`${p} ${l}`),
    heartbeatIntervalMs: 200,
    argv,
    cwd: d.dir,
    notify,
  });
  await until('the first sd_notify', () => notes.length > 0);
  t.match(
    JSON.parse(readFileSync(join(paths.runDir, 'enroll-bridge.json'), 'utf8')),
    { unit: 'bridge', pid: process.pid, argv, cwd: d.dir },
    'enrolled with its command line',
  );
  t.ok(existsSync(heartbeatFile), 'heartbeat written');
  t.match(notes[0], { msg: ['READY=1', /^STATUS=delivering to tg, mx/], heartbeat: true }, 'READY=1 only after the first heartbeat');

  // A second bridge of the project is refused while this one lives.
  const dupLogs: string[] = [];
  t.equal(
    await start(cfg, { pid: process.pid + 100_000, env: {}, stop: stop.signal, log: (_p, l) => void dupLogs.push(l) }),
    75,
    'duplicate: exit 75',
  );
  t.match(dupLogs.join('\n'), /another bridge of project demo is running/);
  t.match(JSON.parse(readFileSync(join(paths.runDir, 'enroll-bridge.json'), 'utf8')), { pid: process.pid }, 'the live one stays enrolled');

  // A producer in "another process" (its own connection) enqueues while the bridge idles.
  const producer = openLedger(paths.ledgerPath);
  t.teardown(() => producer.close());
  const delays: number[] = [];
  for (let i = 0; i < 5; i++) {
    await new Promise((r) => setTimeout(r, 150));
    const before = mx.events.length;
    const t0 = Date.now();
    producer.outbox.enqueue({ idempotencyKey: `lat:${i}`, kind: 'round_end', severity: 'warning', title: `latency ${i}`, body: '' });
    await until(`the delivery of latency ${i}`, () => mx.events.length > before, 3000, 2);
    delays.push(Date.now() - t0);
  }
  t.ok(Math.max(...delays) < 1000, `idle enqueue→delivery under 1 s (${delays.join(', ')} ms)`);

  // Commands: one from the allowed user in the configured chat, one from elsewhere.
  tg.push({ from: 7, chat: 5, text: '/pause 2h' });
  tg.push({ from: 7, chat: 999, text: '/stop' });
  tg.push({ from: 13, chat: 5, text: '/stop' });
  await until('the /pause acknowledgement', () => tg.sent.some((s) => s.text.includes('Paused until')));
  t.ok(readPause(paths, Date.now()), 'pause marker written');
  t.ok(
    tg.sent.some((s) => /\/pause\n\nPaused until/.test(s.text)),
    'acknowledged in the chat',
  );
  t.notOk(existsSync(paths.stopFile), 'the /stop commands from a foreign chat and a foreign user were not executed');
  const events = readdirSync(paths.eventsDir)
    .flatMap((f) => readFileSync(join(paths.eventsDir, f), 'utf8').trim().split('\n'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  const received = events.filter((e) => e['kind'] === 'command_received');
  t.same(received.map((e) => [e['command'], e['status'], e['reason'] ?? null]).sort(), [
    ['pause', 'accepted', null],
    ['stop', 'rejected', 'chat_not_allowed'],
    ['stop', 'rejected', 'sender_not_allowed'],
  ]);

  // The restart marker ends the daemon with 75 at a safe point.
  requestRestart(paths, 'bridge', { by: 'test', reason: 'restart test', nowMs: Date.now() });
  const code = await Promise.race([done, new Promise((r) => setTimeout(() => r('timeout'), 5000))]);
  t.equal(code, 75);
  t.notOk(existsSync(join(paths.runDir, 'enroll-bridge.json')), 'enrollment removed');
  t.notOk(existsSync(join(paths.runDir, 'heartbeat-bridge.json')), 'heartbeat removed');
  t.match(readExitRecord(paths, 'bridge'), { exit_code: 75, reason: 'restart_marker', argv, cwd: d.dir }, 'clean-exit record');
  t.match(notes.at(-1)?.msg, ['STOPPING=1']);
  t.notOk(
    logs.some((l) => l.includes(TOKEN) || l.includes('mxtok')),
    'no secret in the log',
  );

  // SIGTERM while a restart of this incarnation is pending (the watchdog's T2): 75, so systemd restarts it.
  const stop2 = new AbortController();
  const healed = start(cfg, { pid: process.pid, env: { TG: TOKEN, MX: 'mxtok' }, stop: stop2.signal, log: () => undefined });
  await until('the second bridge enrolled', () => existsSync(join(paths.runDir, 'enroll-bridge.json')));
  requestRestart(paths, 'bridge', { by: 'watchdog', reason: 'T1', nowMs: Date.now() });
  stop2.abort();
  t.equal(await healed, 75);
  t.match(readExitRecord(paths, 'bridge'), { exit_code: 75, reason: 'restart_marker' });

  // An operator's stop: exit 0.
  const again = start(cfg, { pid: process.pid, env: { TG: TOKEN, MX: 'mxtok' }, stop: stop.signal, log: () => undefined });
  await until('the third bridge enrolled', () => existsSync(join(paths.runDir, 'enroll-bridge.json')));
  stop.abort();
  t.equal(await again, 0);
  t.match(readExitRecord(paths, 'bridge'), { exit_code: 0, reason: 'signal' });
});

t.test('chat commands addressed to another bot, and edited messages, are neither run nor answered', async (t) => {
  const d = tmp();
  const tg = await telegramStub(TOKEN);
  const mx = await matrixStub('mxtok', ROOM);
  t.teardown(async () => {
    await tg.close();
    await mx.close();
    d.cleanup();
  });
  const cfg = config(d.dir, tg.url, mx.url);
  const paths = configPaths(cfg);
  const stop = new AbortController();
  t.teardown(() => stop.abort());
  const logs: string[] = [];
  const done = start(cfg, {
    pid: process.pid,
    env: { TG: TOKEN, MX: 'mxtok' },
    stop: stop.signal,
    log: (p, l) => void logs.push(`${p} ${l}`),
  });
  // All from the allowed user in the configured chat (a group with several bots).
  tg.push({ from: 7, chat: 5, text: '/pause@otherbot 2h' });
  tg.push({ from: 7, chat: 5, text: '/stop@OtherBot' });
  tg.pushUpdate('edited_message', { from: 7, chat: 5, text: '/stop' });
  tg.push({ from: 7, chat: 5, text: '/help@Agent_Runner_Bot' });
  const last = tg.push({ from: 7, chat: 5, text: '/status' });
  const replied = (): boolean => tg.sent.some((s) => s.text.includes('/help —')) && tg.sent.some((s) => /\/status\n/.test(s.text));
  await until(() => `the answers to our /help@Agent_Runner_Bot and the bare /status (${logs.join('; ')})`, replied);
  // All the bridge will do with these updates is done once it has ingested every one (its
  // cursor past the last), run every stored command and delivered every reply.
  const observer = openLedger(paths.ledgerPath);
  t.teardown(() => observer.close());
  await until('every update ingested, every command run, every reply delivered', () => {
    const o = observer.outbox.countByStatus();
    return (
      Number(observer.bridge.getCursor('inbound.tg') ?? 0) > last &&
      observer.bridge.pendingCommands().length === 0 &&
      o.pending + o.sending === 0
    );
  });
  stop.abort();
  t.equal(await done, 0);
  t.equal(readPause(paths, Date.now()), undefined, '/pause@otherbot did not pause');
  t.notOk(existsSync(paths.stopFile), '/stop@OtherBot and the edit to /stop did not stop');
  t.equal(tg.sent.length, 2, `only the two replies: ${JSON.stringify(tg.sent.map((s) => s.text.split('\n')[0]))}`);
  const events = readdirSync(paths.eventsDir)
    .flatMap((f) => readFileSync(join(paths.eventsDir, f), 'utf8').trim().split('\n'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  t.same(
    events.filter((e) => e['kind'] === 'command_received').map((e) => [e['command'], e['status']]),
    [
      ['help', 'accepted'],
      ['status', 'accepted'],
    ],
  );
});

t.test('a full disk never stops the bridge: it logs once, keeps running and delivers once space is free', async (t) => {
  const d = tmp();
  const tg = await telegramStub(TOKEN);
  const mx = await matrixStub('mxtok', ROOM);
  t.teardown(async () => {
    await tg.close();
    await mx.close();
    d.cleanup();
  });
  const cfg = config(d.dir, tg.url, mx.url);
  const paths = configPaths(cfg);
  const full = { on: false, refused: [] as string[] };
  const logs: string[] = [];
  const stop = new AbortController();
  t.teardown(() => stop.abort());
  const done = start(cfg, {
    pid: process.pid,
    env: { TG: TOKEN, MX: 'mxtok' },
    stop: stop.signal,
    log: (p, l) => void logs.push(`${p} ${l}`),
    openLedger: (p, o) => diskFullLedger(openLedger(p, o), full),
  });
  let ended = false;
  void done.then(() => (ended = true));
  const producer = openLedger(paths.ledgerPath);
  t.teardown(() => producer.close());
  producer.outbox.enqueue({ idempotencyKey: 'before', kind: 'round_end', severity: 'warning', title: 'before', body: '' });
  await until('the first delivery', () => mx.events.length === 1);
  full.on = true;
  producer.outbox.enqueue({ idempotencyKey: 'during', kind: 'round_end', severity: 'warning', title: 'during', body: '' });
  tg.push({ from: 7, chat: 5, text: '/pause 1h' });
  // Every turn of the delivery loop tries to claim notifications.
  await until('three loop turns on the full disk', () => full.refused.filter((w) => w === 'claimDue').length >= 3);
  t.notOk(ended, 'still running after several loop turns on a full disk');
  t.equal(mx.events.length, 1, 'nothing claimed while the ledger cannot be written');
  t.equal(logs.filter((l) => /the disk is full/.test(l)).length, 1, `logged once: ${logs.join(' | ')}`);
  full.on = false;
  await until(
    'delivery and commands to resume by themselves',
    () => mx.events.length === 2 && tg.sent.some((s) => /Paused until/.test(s.text)),
  );
  t.same(
    mx.events.map((e) => e.txn),
    ['before:mx', 'during:mx'],
  );
  stop.abort();
  t.equal(await done, 0);
});

t.test('daily digest is enqueued at digest_time and sent once', async (t) => {
  const d = tmp();
  const tg = await telegramStub(TOKEN);
  const mx = await matrixStub('mxtok', ROOM);
  t.teardown(async () => {
    await tg.close();
    await mx.close();
    d.cleanup();
  });
  const cfg = config(d.dir, tg.url, mx.url, 'digest_time = "09:00"');
  const paths = configPaths(cfg);
  const l = openLedger(paths.ledgerPath);
  const day = Date.parse('2026-04-01T09:00:00Z');
  l.runner.startRound({ runner: { pid: 1, bootId: 'b', starttimeTicks: 1, nonce: 'n' }, startedAtMs: day - 3600_000 });
  l.runner.finishRound(1, { classification: 'rate_limit', costUsd: 1.5, endedAtMs: day - 3000_000 });
  l.close();
  // The clock starts (at the daemon's first reading) 30 s before 09:00 and runs 1000x fast.
  let t0: number | undefined;
  const now = (): number => day - 30_000 + (Date.now() - (t0 ??= Date.now())) * 1000;
  const stop = new AbortController();
  t.teardown(() => stop.abort());
  const logs: string[] = [];
  const done = start(cfg, {
    pid: process.pid,
    env: { TG: TOKEN, MX: 'mxtok' },
    stop: stop.signal,
    log: (p, line) => void logs.push(`${p} ${line}`),
    now,
    offsetMin: () => 0,
  });
  await until(
    () => `the digest (${logs.join('; ')})`,
    () => tg.sent.length > 0,
  );
  stop.abort();
  await done;
  t.equal(tg.sent.length, 1, logs.join('\n'));
  t.match(tg.sent[0]?.text, /^demo@[^:]+: daily digest\n/);
  t.match(tg.sent[0]?.text, /Rounds: 1 \(rate_limit 1\)/);
  t.match(tg.sent[0]?.text, /Cost: \$1\.50/);
  t.match(tg.sent[0]?.text, /Healed by themselves: 0 transient rounds; 1 not yet followed by an ok round/);
  t.equal(mx.events.length, 1);
});
