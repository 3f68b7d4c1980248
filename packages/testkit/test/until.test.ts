import t from 'tap';
import { until } from '../src/until.js';

t.test('returns the first answer, sync or async', async (t) => {
  let n = 0;
  t.equal(await until('the third call', () => (++n >= 3 ? n : false), 1000, 1), 3);
  let m = 0;
  t.same(await until('an object', async () => (++m >= 2 ? { m } : undefined), 1000, 1), { m: 2 });
});

t.test('false, null and undefined mean not yet; 0 is an answer', async (t) => {
  const seq: unknown[] = [false, null, undefined, 0, 'x'];
  t.equal(await until('an exit code', () => seq.shift(), 1000, 1), 0);
  t.same(seq, ['x'], 'stopped at the answer');
});

t.test('times out naming what it waited for, after polling until then', async (t) => {
  let calls = 0;
  const t0 = Date.now();
  await t.rejects(
    until('the green light', () => void calls++, 100, 10),
    { message: 'timed out after 100 ms waiting for the green light' },
  );
  t.ok(Date.now() - t0 >= 100, 'waited the whole timeout');
  t.ok(calls >= 2, `probed more than once (${calls})`);
});

t.test('a message function is called at the time-out, with the state seen then', async (t) => {
  let seen = 0;
  await t.rejects(
    until(
      () => `the count (at ${seen})`,
      () => (seen++, false),
      50,
      5,
    ),
    { message: /^timed out after 50 ms waiting for the count \(at [1-9]\d*\)$/ },
  );
});

t.test("the probe's own error propagates at once", async (t) => {
  const t0 = Date.now();
  await t.rejects(
    until(
      'never',
      () => {
        throw new Error('probe broke');
      },
      5000,
    ),
    { message: 'probe broke' },
  );
  t.ok(Date.now() - t0 < 1000, 'did not wait for the timeout');
});
