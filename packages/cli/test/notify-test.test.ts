import t from 'tap';
import { openLedger } from '@agent-runner/core/ledger';
import { runCli, tempProject } from '@agent-runner/testkit/project';

const CONFIG = '[agent]\ncommand = ["sh"]\n[prompt]\nfile = "PROMPT.md"\n[notify.hook]\ntype = "webhook"\nurl = "http://127.0.0.1:9/"\n';

t.test('notify test queues one test notification for the bridge; an unknown transport is a usage error', async (t) => {
  const p = tempProject('nt', { 'PROMPT.md': 'x', 'agent-runner.toml': CONFIG });
  t.teardown(p.cleanup);
  const r = await runCli(['notify', 'test', '--transport', 'hook', '--json'], { cwd: p.dir, env: p.env });
  t.equal(r.code, 0, r.stderr);
  const { outbox_id: id, transport } = JSON.parse(r.stdout) as { outbox_id: number; transport: string };
  t.equal(transport, 'hook');
  const peek = await runCli(['peek', '--json', '--select', 'ledger.path'], { cwd: p.dir, env: p.env });
  const ledger = openLedger(JSON.parse(peek.stdout) as string, { readonly: true });
  t.teardown(() => ledger.close());
  t.match(ledger.outbox.getOutbox(id), { kind: 'notify_test', transport: 'hook', status: 'pending' });

  const bad = await runCli(['notify', 'test', '--transport', 'hoook'], { cwd: p.dir, env: p.env });
  t.equal(bad.code, 64);
  t.match(bad.stderr, /no \[notify\.hoook\] in .*agent-runner\.toml/);
  t.match(bad.stderr, /one of hook/);
});
