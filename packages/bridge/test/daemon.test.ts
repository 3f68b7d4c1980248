import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { configPaths, parseConfig, type AgentRunnerConfig } from '@agent-runner/core/config';
import { openLedger } from '@agent-runner/core/ledger';
import { requestRestart } from '@agent-runner/core/markers';
import { readPause } from '@agent-runner/core/requests';
import { start } from '../src/daemon.js';
import { tmp } from './helpers.js';
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

t.test('the daemon: idle delivery latency, commands, enrollment, restart marker, clean stop', async (t) => {
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
  const done = start(cfg, { pid: process.pid, env: { TG: TOKEN, MX: 'mxtok' }, stop: stop.signal, log: (p, l) => void logs.push(`${p} ${l}`), heartbeatIntervalMs: 200 });
  await new Promise((r) => setTimeout(r, 300));
  t.ok(existsSync(join(paths.runDir, 'enroll-bridge.json')), 'enrolled');
  t.ok(existsSync(join(paths.runDir, 'heartbeat-bridge.json')), 'heartbeat written');

  // A producer in "another process" (its own connection) enqueues while the bridge idles.
  const producer = openLedger(paths.ledgerPath);
  t.teardown(() => producer.close());
  const delays: number[] = [];
  for (let i = 0; i < 5; i++) {
    await new Promise((r) => setTimeout(r, 150));
    const before = mx.events.length;
    const t0 = Date.now();
    producer.outbox.enqueue({ idempotencyKey: `lat:${i}`, kind: 'round_end', severity: 'warning', title: `latency ${i}`, body: '' });
    while (mx.events.length === before && Date.now() - t0 < 3000) await new Promise((r) => setTimeout(r, 2));
    delays.push(Date.now() - t0);
  }
  t.ok(Math.max(...delays) < 1000, `idle enqueue→delivery under 1 s (${delays.join(', ')} ms)`);

  // Commands: one from the allowed user in the configured chat, one from elsewhere.
  tg.push({ from: 7, chat: 5, text: '/pause 2h' });
  tg.push({ from: 7, chat: 999, text: '/stop' });
  tg.push({ from: 13, chat: 5, text: '/stop' });
  const t1 = Date.now();
  while (!tg.sent.some((s) => s.text.includes('Paused until')) && Date.now() - t1 < 5000) await new Promise((r) => setTimeout(r, 20));
  t.ok(readPause(paths, Date.now()), 'pause marker written');
  t.ok(tg.sent.some((s) => /\/pause\n\nPaused until/.test(s.text)), 'acknowledged in the chat');
  t.notOk(existsSync(paths.stopFile), 'the /stop commands from a foreign chat and a foreign user were not executed');
  const events = readdirSync(paths.eventsDir).flatMap((f) => readFileSync(join(paths.eventsDir, f), 'utf8').trim().split('\n')).map((l) => JSON.parse(l) as Record<string, unknown>);
  const received = events.filter((e) => e['kind'] === 'command_received');
  t.same(received.map((e) => [e['command'], e['status'], e['reason'] ?? null]).sort(), [['pause', 'accepted', null], ['stop', 'rejected', 'chat_not_allowed'], ['stop', 'rejected', 'sender_not_allowed']]);

  // The restart marker ends the daemon with 75 at a safe point.
  requestRestart(paths, 'bridge', { by: 'test', reason: 'restart test', nowMs: Date.now() });
  const code = await Promise.race([done, new Promise((r) => setTimeout(() => r('timeout'), 5000))]);
  t.equal(code, 75);
  t.notOk(existsSync(join(paths.runDir, 'enroll-bridge.json')), 'enrollment removed');
  t.notOk(existsSync(join(paths.runDir, 'heartbeat-bridge.json')), 'heartbeat removed');
  t.notOk(logs.some((l) => l.includes(TOKEN) || l.includes('mxtok')), 'no secret in the log');

  // A second run stops cleanly on the stop signal.
  const again = start(cfg, { pid: process.pid, env: { TG: TOKEN, MX: 'mxtok' }, stop: stop.signal, log: () => undefined });
  await new Promise((r) => setTimeout(r, 200));
  stop.abort();
  t.equal(await again, 0);
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
  const logs: string[] = [];
  const done = start(cfg, { pid: process.pid, env: { TG: TOKEN, MX: "mxtok" }, stop: stop.signal, log: (p, line) => void logs.push(`${p} ${line}`), now, offsetMin: () => 0 });
  const t1 = Date.now();
  while (tg.sent.length === 0 && Date.now() - t1 < 5000) await new Promise((r) => setTimeout(r, 20));
  stop.abort();
  await done;
  t.equal(tg.sent.length, 1, logs.join('\n'));
  t.match(tg.sent[0]?.text, /demo: daily digest/);
  t.match(tg.sent[0]?.text, /Rounds: 1 \(rate_limit 1\)/);
  t.match(tg.sent[0]?.text, /Cost: \$1\.50/);
  t.match(tg.sent[0]?.text, /Throttled rounds: 1/);
  t.equal(mx.events.length, 1);
});
