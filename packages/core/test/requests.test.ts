import t from 'tap';
import { mkdtempSync, rmSync, existsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { projectPaths } from '../src/paths.js';
import { clearPause, healResetPath, readPause, requestHealReset, requestPause, takeHealReset } from '../src/requests.js';

const setup = () => {
  const root = mkdtempSync(join(tmpdir(), 'ar-req-'));
  return { root, paths: projectPaths('p', join(root, 'state'), join(root, 'logs')) };
};

t.test('pause: until resumed, or for a duration', async (t) => {
  const { root, paths } = setup();
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  t.equal(readPause(paths, 1000), undefined);
  const p = requestPause(paths, { by: 'telegram:42', reason: '/pause', nowMs: 1000 });
  t.match(readPause(paths, 10 ** 13), { nonce: p.nonce, until_ms: null, requested_by: 'telegram:42' }, 'no duration: until resumed');
  t.ok(clearPause(paths));
  t.notOk(clearPause(paths), 'nothing left to clear');
  requestPause(paths, { by: 'cli', reason: 'maintenance', nowMs: 1000, durationMs: 60_000 });
  t.ok(readPause(paths, 60_999), 'in force before it ends');
  t.equal(readPause(paths, 61_000), undefined, 'over at until_ms');
  writeFileSync(join(paths.runDir, 'pause.json'), '{not json');
  t.equal(readPause(paths, 1000), undefined, 'a malformed marker is no pause');
});

t.test('heal reset: consumed once, by its target, with who and why', async (t) => {
  const { root, paths } = setup();
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  t.equal(takeHealReset(paths, 'bridge'), undefined);
  requestHealReset(paths, 'bridge', { by: 'cli:op', reason: 'fixed the token', nowMs: 5 });
  t.equal(takeHealReset(paths, 'monitor'), undefined, 'another target does not see it');
  t.match(takeHealReset(paths, 'bridge'), { target: 'bridge', requested_by: 'cli:op', reason: 'fixed the token', requested_at_ms: 5 });
  t.equal(takeHealReset(paths, 'bridge'), undefined, 'consumed');
  t.notOk(existsSync(healResetPath(paths, 'bridge')));
  t.throws(() => requestHealReset(paths, '../x', { by: 'a', reason: 'b', nowMs: 1 }), { code: 'ERR_AR_USAGE' });
});
