// errnoCode and isErrno against real system errors from fs and process.kill.
import t from 'tap';
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { errnoCode, isErrno, AgentRunnerError } from '../src/errors.js';

function thrown(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  throw new Error('expected a throw');
}

t.test('a missing file is ENOENT, a directory read as a file is EISDIR', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ar-errno-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const missing = thrown(() => readFileSync(join(dir, 'absent')));
  t.equal(errnoCode(missing), 'ENOENT');
  t.ok(isErrno(missing, 'ENOENT'));
  t.ok(isErrno(missing, 'EACCES', 'ENOENT'), 'any of several codes');
  t.notOk(isErrno(missing, 'EACCES'), 'another code does not match');
  t.notOk(isErrno(missing), 'no codes match nothing');

  const dirRead = thrown(() => readFileSync(dir));
  t.equal(errnoCode(dirRead), 'EISDIR');
  t.notOk(isErrno(dirRead, 'ENOENT'));
});

t.test('a signal to a process that does not exist is ESRCH', async (t) => {
  // 2^22 is above Linux's pid_max ceiling (4194304), so no process has it.
  const gone = thrown(() => process.kill(4194304 + 1, 0));
  t.equal(errnoCode(gone), 'ESRCH');
  t.ok(isErrno(gone, 'ESRCH'));
});

t.test('values without a string code have none', async (t) => {
  for (const v of [undefined, null, 'ENOENT', 2, new Error('plain'), { code: 2 }, { code: undefined }]) {
    t.equal(errnoCode(v), undefined, String(v));
    t.notOk(isErrno(v, 'ENOENT'), String(v));
  }
  t.notOk(isErrno(new AgentRunnerError('ERR_AR_USAGE', 'x'), 'ENOENT'), 'an AgentRunnerError code is not an errno');
  t.equal(errnoCode({ code: 'EPERM' }), 'EPERM', 'a plain object with a string code counts');
});
