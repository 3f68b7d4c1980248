// How the CLI reports what it cannot do: a full disk is the host's state (ERR_AR_NO_SPACE,
// exit 75 so systemd tries later), an unknown error a bug (ERR_AR_INTERNAL, 70).
import t from 'tap';
import { Writable } from 'node:stream';
import type { CliContext } from '../src/context.js';
import { AgentRunnerError } from '@agent-runner/core/errors';
import { reportError } from '../src/output.js';

function ctx(env: Record<string, string> = {}): { c: CliContext; out: () => string; err: () => string } {
  let out = '';
  let err = '';
  const sink = (add: (s: string) => void): Writable =>
    new Writable({
      write: (chunk, _enc, cb) => {
        add(String(chunk));
        cb();
      },
    });
  const c = { env, stdout: sink((s) => (out += s)), stderr: sink((s) => (err += s)) } as unknown as CliContext;
  return { c, out: () => out, err: () => err };
}

const enospc = Object.assign(new Error("ENOSPC: no space left on device, write '/var/lib/agent-runner/p/ledger.sqlite3-wal'"), {
  code: 'ENOSPC',
});

t.test('ENOSPC: ERR_AR_NO_SPACE, exit 75, with the hint; one err line in the journal', async (t) => {
  const json = ctx();
  t.equal(reportError(json.c, enospc, true), 75);
  t.match(JSON.parse(json.out()), {
    ok: false,
    error: { code: 'ERR_AR_NO_SPACE', message: /^no space left: ENOSPC/, hint: /Disk pressure/ },
  });
  const human = ctx();
  t.equal(reportError(human.c, enospc, false), 75);
  t.match(human.err(), /^agent-runner: error:[\s\S]*no space left[\s\S]*hint: Free space/);
  const journal = ctx({ JOURNAL_STREAM: '8:1' });
  reportError(journal.c, enospc, false);
  t.match(journal.err(), /^<3>agent-runner: error: .*no space left.*\n$/);
  t.equal(journal.err().split('\n').length, 2, 'one line');
});

t.test('SQLITE_FULL is a full disk too; anything else is a bug', async (t) => {
  const full = ctx();
  t.equal(reportError(full.c, Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' }), true), 75);
  t.match(JSON.parse(full.out()), { error: { code: 'ERR_AR_NO_SPACE' } });
  const bug = ctx();
  t.equal(reportError(bug.c, new TypeError('x is undefined'), true), 70);
  t.match(JSON.parse(bug.out()), { error: { code: 'ERR_AR_INTERNAL' } });
});

t.test('an error quoting a secret is reported redacted, on a terminal, in the journal and as JSON', async (t) => {
  const key = 'sk-ant-api03-AAAABBBBCCCCDDDDEEEEFFFF';
  const e = new AgentRunnerError('ERR_AR_CONFIG_INVALID', `bad value ${key}`, { found: key });
  for (const [env, json] of [
    [{}, false],
    [{ JOURNAL_STREAM: '8:1' }, false],
    [{}, true],
  ] as const) {
    const c = ctx({ ...env });
    reportError(c.c, e, json);
    t.notOk(`${c.out()}${c.err()}`.includes(key), JSON.stringify({ env, json }));
    t.match(`${c.out()}${c.err()}`, /bad value \[redacted\]/);
  }
});
