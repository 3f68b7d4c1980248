// SIGKILL soak: the real `agent-runner bridge` (compiled CLI) is killed at random points while
// N notifications (default 1000, SOAK_N) flow to a Matrix homeserver stub and a webhook stub.
// Afterwards every notification was delivered in creation order, none twice on Matrix
// (transaction ids) nor at the webhook receiver that honours `Idempotency-Key` (the number a
// receiver ignoring it would have seen is printed); a command from a chat that is not allowed
// was never executed, and the allowed one exactly once.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { configPaths, loadConfig } from '@agent-runner/core/config';
import { openLedger } from '@agent-runner/core/ledger';
import { readPause } from '@agent-runner/core/requests';
import { matrixStub, reply, startStub, telegramStub } from '../test/stubs.js';

const CLI = fileURLToPath(new URL('../../cli/dist/bin.js', import.meta.url));
const N = Number(process.env['SOAK_N'] ?? 1000);
const MIN_KILLS = Number(process.env['SOAK_KILLS'] ?? 20);
const ROOM = '!soak:hs';
const TOKEN = '42:soak-telegram-token';

t.test(`SIGKILL soak: ${N} notifications, at least ${MIN_KILLS} kills`, { timeout: 290_000 }, async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'ar-bridge-soak-'));
  const mx = await matrixStub('mxtok', ROOM, { maxLatencyMs: 3 });
  const tg = await telegramStub(TOKEN);
  // A receiver that honours Idempotency-Key: it keeps the first delivery of a key and answers a
  // redelivery 200 without acting on it again. `posts` is what a receiver ignoring it would see.
  const hooked = new Map<string, number>();
  const accepted: string[] = [];
  let keyMismatches = 0;
  const hook = await startStub(async (req, res) => {
    // A little latency so kills land mid-request.
    await new Promise((r) => setTimeout(r, Math.random() * 3));
    const key = String(req.headers['idempotency-key'] ?? '');
    if (key !== (req.json as { id?: string }).id) keyMismatches += 1;
    hooked.set(key, (hooked.get(key) ?? 0) + 1);
    if (hooked.get(key) === 1) accepted.push(key);
    reply(res, 200, { ok: true });
  });
  t.teardown(async () => {
    await mx.close();
    await tg.close();
    await hook.close();
    rmSync(root, { recursive: true, force: true });
  });
  const cfgPath = join(root, 'agent-runner.toml');
  writeFileSync(join(root, 'PROMPT.md'), 'x');
  writeFileSync(
    cfgPath,
    `
project = "soak"
[agent]
command = ["true"]
[prompt]
file = "PROMPT.md"
[runtime]
state_dir = "${root}/state"
[bridge]
poll_interval_s = 1
max_attempts = 1000
[notify.mx]
type = "matrix"
homeserver = "${mx.url}"
room_id = "${ROOM}"
access_token_env = "MX"
min_severity = "info"
max_per_minute = 1000000
[notify.hook]
type = "webhook"
url = "${hook.url}/hook"
min_severity = "info"
max_per_minute = 1000000
[notify.tg]
type = "telegram"
chat_id = 5
api_url = "${tg.url}"
bot_token_env = "TG"
kinds = ["command_reply"]
allowed_user_ids = [7]
`,
  );
  const env = { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: root, MX: 'mxtok', TG: TOKEN };
  const cfg = loadConfig(cfgPath, { env, mode: 'user' });
  const paths = configPaths(cfg);
  const producer = openLedger(paths.ledgerPath);
  t.teardown(() => producer.close());

  let child: ChildProcess | undefined;
  let stderr = '';
  const spawnBridge = (): ChildProcess => {
    const c = spawn(process.execPath, [CLI, 'bridge', '--config', cfgPath], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    c.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-20_000)));
    return c;
  };
  const exited = (c: ChildProcess): Promise<void> =>
    new Promise((r) => (c.exitCode !== null || c.signalCode !== null ? r() : c.once('exit', () => r())));

  let produced = 0;
  let pushed = false;
  let kills = 0;
  let killing = true;
  // The producer keeps pace with the kills (a share of N per bridge life): on a fast machine
  // one bridge would otherwise deliver everything before the second kill.
  const produce = async (): Promise<void> => {
    while (produced < N) {
      if (killing && produced >= (N * (kills + 1)) / MIN_KILLS) {
        await new Promise((r) => setTimeout(r, 20));
        continue;
      }
      const batch = Math.min(N - produced, 1 + Math.floor(Math.random() * 40));
      producer.atomically(() => {
        for (let i = 0; i < batch; i++, produced++) {
          producer.outbox.enqueue({
            idempotencyKey: `soak:${produced}`,
            kind: 'round_end',
            severity: 'warning',
            title: `notification ${produced}`,
            body: `body ${produced}`,
          });
        }
      });
      if (!pushed && produced >= N / 3) {
        pushed = true;
        tg.push({ from: 7, chat: 999, text: '/stop' }); // allowed user, foreign chat
        tg.push({ from: 66, chat: 5, text: '/stop' }); // foreign user, configured chat
        tg.push({ from: 7, chat: 5, text: '/pause 1h' });
      }
      await new Promise((r) => setTimeout(r, 5 + Math.random() * 30));
    }
  };
  const producing = produce();

  // Kill phase: each bridge is killed at a random moment after it delivered something (so
  // kills land while notifications flow, also on a slow, loaded machine), at most 120 s.
  const delivered = (): number => mx.events.length + hooked.size;
  const killPhaseEnd = Date.now() + 120_000;
  while ((produced < N || kills < MIN_KILLS) && Date.now() < killPhaseEnd && delivered() < 2 * N) {
    child = spawnBridge();
    const c = child;
    const before = delivered();
    const t0 = Date.now();
    while (delivered() === before && c.exitCode === null && Date.now() - t0 < 8000) await new Promise((r) => setTimeout(r, 5));
    await new Promise((r) => setTimeout(r, Math.random() * 1000));
    c.kill('SIGKILL');
    await exited(c);
    kills += 1;
  }
  killing = false;
  await producing;
  t.ok(kills >= MIN_KILLS, `${kills} SIGKILLs`);

  // A last bridge drains what is left, then stops on SIGTERM.
  const beforeLast = mx.events.length;
  child = spawnBridge();
  const drainEnd = Date.now() + 80_000;
  while (Date.now() < drainEnd) {
    const s = producer.outbox.countByStatus();
    if (s.pending === 0 && s.sending === 0 && mx.events.length >= N) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  // SIGTERM only once the last bridge has enrolled: before node has installed its handlers a
  // SIGTERM kills by default, which would say nothing about the bridge.
  const enrolled = (): boolean => {
    try {
      return (JSON.parse(readFileSync(join(root, 'state', 'run', 'enroll-bridge.json'), 'utf8')) as { pid: number }).pid === child.pid;
    } catch {
      return false;
    }
  };
  for (const end = Date.now() + 30_000; !enrolled() && Date.now() < end;) await new Promise((r) => setTimeout(r, 50));
  child.kill('SIGTERM');
  await exited(child);
  t.equal(child.exitCode, 0, 'clean exit on SIGTERM');

  const soak = mx.events.filter((e) => e.txn.startsWith('soak:'));
  const keys = new Set(soak.map((e) => e.txn));
  t.equal(keys.size, N, 'every notification reached Matrix');
  t.equal(soak.length, N, `none twice on Matrix (${mx.puts - mx.events.length} resends absorbed by txn ids)`);
  const expected = Array.from({ length: N }, (_, i) => `soak:${i}:hook`);
  t.same(
    expected.filter((k) => !hooked.has(k)),
    [],
    'every notification reached the webhook: 0 lost',
  );
  t.same(accepted, expected, 'the honouring receiver acted on each exactly once (0 duplicated), in creation order');
  t.equal(keyMismatches, 0, 'every redelivery carried the same Idempotency-Key as the first');
  t.same(
    soak.map((e) => e.txn),
    Array.from({ length: N }, (_, i) => `soak:${i}:mx`),
    'Matrix got them in creation order',
  );
  const posts = [...hooked.values()].reduce((a, b) => a + b, 0);
  const counts = producer.outbox.countByStatus();
  t.same({ pending: counts.pending, sending: counts.sending, dead: counts.dead }, { pending: 0, sending: 0, dead: 0 });
  t.notOk(existsSync(paths.stopFile), 'no /stop from a foreign chat or user was executed');
  t.ok(readPause(paths, Date.now()), 'the allowed /pause was executed');
  const pauses = producer.bridge.pendingCommands().length;
  t.equal(pauses, 0, 'no command left pending');
  t.notOk(stderr.includes(TOKEN) || stderr.includes('mxtok'), 'no secret in the journal');
  t.comment(
    `a webhook receiver ignoring Idempotency-Key would have seen ${posts} deliveries for ${N} notifications (${posts - N} duplicates after ${kills} SIGKILLs); honouring it: ${accepted.length}, 0 duplicated`,
  );
  t.comment(`delivered to Matrix before the last bridge=${beforeLast} kills=${kills} matrix PUTs=${mx.puts} events=${mx.events.length}`);
});
