import t from 'tap';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ALARMS, clearAlarm, raiseAlarm, renderAlarm, renderNotificationsDoc, type AlarmCause } from '../src/alarms.js';
import { openLedger } from '../src/ledger/index.js';

const root = new URL('../../../', import.meta.url).pathname;

t.test('docs/notifications.md is generated from the alarm catalogue and current', async (t) => {
  t.equal(
    readFileSync(`${root}docs/notifications.md`, 'utf8'),
    renderNotificationsDoc(),
    'docs/notifications.md is stale: run `npm run docs`',
  );
});

t.test('every alarm: title <project>@<host>: ..., no severity tag, a fix or resume line, secrets redacted', async (t) => {
  for (const [cause, spec] of Object.entries(ALARMS) as Array<[AlarmCause, (typeof ALARMS)[AlarmCause]]>) {
    const a = renderAlarm(cause, spec.example, 'app', 'pi');
    t.match(a.title, /^app@pi: \S/, `${cause} title`);
    t.notMatch(a.title, /\[(critical|error|warning|info|CRIT|ERR|WARN)\]/i, `${cause}: no severity tag in the title`);
    t.match(a.body, /agent-runner |by (itself|themselves)/, `${cause}: says what to run or that it resumes by itself`);
  }
  const leaked = renderAlarm('crash_loop', { consecutive: 5, tail: 'export ANTHROPIC_API_KEY=sk-ant-api03-abcdefghijklmnop' }, 'app', 'pi');
  t.notMatch(leaked.body, /sk-ant-api03/, 'a secret in the tail is redacted');
});

t.test('one episode: one alarm and one recovery at the alarm severity, replying to it', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ar-alarms-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const ledger = openLedger(join(dir, 'ledger.sqlite3'));
  t.teardown(() => ledger.close());
  const scope = { project: 'app', host: 'pi' };
  const first = raiseAlarm(ledger, 'crash_loop', { consecutive: 5 }, scope);
  t.equal(first.raised, true);
  for (let i = 0; i < 5; i++)
    t.equal(raiseAlarm(ledger, 'crash_loop', { consecutive: 6 + i }, scope).raised, false, 'raised again while active: refreshed only');
  const active = (project: string): string[] => ledger.monitor.activeAlerts({ host: 'pi', project }).map((a) => a.detector);
  t.same(active('app'), ['crash_loop'], 'one active episode');
  t.equal(ledger.outbox.countByStatus().pending, 1, 'one alarm queued');
  t.equal(clearAlarm(ledger, 'crash_loop', { round: 9 }, scope), true);
  t.equal(clearAlarm(ledger, 'crash_loop', { round: 10 }, scope), false, 'nothing left to clear');
  const alarm = ledger.outbox.getOutbox(1);
  const recovery = ledger.outbox.getOutbox(2);
  t.equal(alarm?.idempotencyKey, `alarm:${first.id}:raised`);
  t.equal(recovery?.severity, alarm?.severity, 'the recovery has the alarm severity (passes the same min_severity)');
  t.match(recovery?.title, /^app@pi: resolved: round 9 succeeded/);
  t.same((recovery?.payload as { reply_to: string }).reply_to, alarm?.idempotencyKey);
  t.equal(raiseAlarm(ledger, 'crash_loop', { consecutive: 5 }, scope).raised, true, 'a new episode after the recovery alarms again');
  t.same(active('other'), [], 'episodes are per project');
  const a = raiseAlarm(ledger, 'breaker_open', { target: 'bridge' }, { ...scope, subject: 'bridge' });
  const b = raiseAlarm(ledger, 'breaker_open', { target: 'monitor' }, { ...scope, subject: 'monitor' });
  t.ok(a.raised && b.raised && a.id !== b.id, 'subjects are separate episodes');
  t.equal(ledger.monitor.activeAlerts({ raisedBy: 'watchdog' }).length, 2, 'raised by the owner of the cause');
});
