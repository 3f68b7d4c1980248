// The daily digest counts, from a real ledger, the faults that healed by themselves, so an
// operator sees them there instead of on the phone.
import { join } from 'node:path';
import t from 'tap';
import { clearAlarm, raiseAlarm } from '@agent-runner/core/alarms';
import { openLedger, type Ledger } from '@agent-runner/core/ledger';
import { buildDigest, selfHealed } from '../src/digest.js';
import { tmp } from './helpers.js';

const DAY = Date.parse('2026-04-01T09:00:00Z');
const SINCE = DAY - 86_400_000;

function round(l: Ledger, atMs: number, classification: string): void {
  const n = l.runner.startRound({ runner: { pid: 1, bootId: 'b', starttimeTicks: 1, nonce: 'n' }, startedAtMs: atMs });
  l.runner.finishRound(n, { classification, endedAtMs: atMs + 1000 });
}

t.test('50 rate limits that each waited for their reset are 50 self-healed rounds', async (t) => {
  const d = tmp();
  const l = openLedger(join(d.dir, 'ledger.sqlite3'));
  t.teardown(() => {
    l.close();
    d.cleanup();
  });
  let at = SINCE + 60_000;
  for (let i = 0; i < 50; i++) {
    round(l, (at += 60_000), 'rate_limit');
    round(l, (at += 60_000), 'ok');
  }
  t.same(selfHealed(l, SINCE, DAY).rounds, { rate_limit: 50 });
  const dg = buildDigest(l, SINCE, DAY, 'app', 'pi');
  t.equal(dg.title, 'app@pi: daily digest');
  t.match(dg.body, /^Healed by themselves: 50 transient rounds \(rate_limit ×50\)$/m);
  t.same(dg.payload['self_healed'], { rate_limit: 50 });
});

t.test('what counts as healed: transient streaks ended by ok; heals; alarms raised and cleared in the window', async (t) => {
  const d = tmp();
  const l = openLedger(join(d.dir, 'ledger.sqlite3'));
  t.teardown(() => {
    l.close();
    d.cleanup();
  });
  let at = SINCE - 3_600_000;
  round(l, at, 'overloaded'); // before the window
  at = SINCE;
  for (const c of ['ok', 'overloaded', 'server_error', 'ok', 'network', 'crash', 'ok', 'timeout', 'network', 'ok', 'rate_limit'])
    round(l, (at += 600_000), c);
  round(l, DAY + 1000, 'ok'); // after the window: the last rate_limit is still unresolved in it
  l.watchdog.recordHealAction({ target: 'bridge', tier: 3, action: 'sigkill', result: 'succeeded', actor: 'watchdog', atMs: SINCE + 1000 });
  l.watchdog.recordHealAction({ target: 'bridge', tier: 3, action: 'sigkill', result: 'succeeded', actor: 'watchdog', atMs: SINCE + 2000 });
  l.watchdog.recordHealAction({
    target: 'runner',
    tier: 1,
    action: 'restart-marker',
    result: 'failed',
    actor: 'watchdog',
    atMs: SINCE - 1,
  });
  const scope = { project: 'app', host: 'pi' };
  raiseAlarm(l, 'auth_paused', { agent: 'claude' }, { ...scope, atMs: SINCE + 10_000 });
  clearAlarm(l, 'auth_paused', { paused_s: 600 }, { ...scope, atMs: SINCE + 20_000 });
  raiseAlarm(l, 'disk_full', { path: '/var' }, { ...scope, atMs: SINCE + 30_000 });

  const h = selfHealed(l, SINCE, DAY);
  t.same(h.rounds, { overloaded: 1, server_error: 1, timeout: 1, network: 1 }, 'the network round before the crash did not heal alone');
  t.equal(h.unresolved, 1);
  t.same(h.heals, { 'bridge sigkill succeeded': 2 });
  t.same(h.alarmsCleared, { auth_paused: 1 });
  t.same(h.alarmsOpen, { disk_full: 1 });
  const body = buildDigest(l, SINCE, DAY, 'app', 'pi').body;
  t.match(
    body,
    /Healed by themselves: 4 transient rounds \(network ×1, overloaded ×1, server_error ×1, timeout ×1\); 1 not yet followed by an ok round/,
  );
  t.match(body, /Watchdog heals: 2 \(bridge sigkill succeeded ×2\)/);
  t.match(body, /Alarms raised and cleared: 1 \(auth_paused ×1\); still open: 1 \(disk_full ×1\)/);
});
