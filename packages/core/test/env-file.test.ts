import { join } from 'node:path';
import t from 'tap';
import { readEnvFile } from '../src/env-file.js';
import { AgentRunnerError } from '../src/errors.js';

t.test('systemd EnvironmentFile= syntax: comments, blank lines, export, quotes', async (t) => {
  const dir = t.testdir({
    'agent.env': [
      '# a comment',
      '; another',
      '',
      'PLAIN=value with spaces  ',
      'export EXPORTED=1',
      '  INDENTED = spaced ',
      'DOUBLE="a \\"quoted\\" word\\nand a line\\\\"',
      "SINGLE='kept \\n as is'",
      'EMPTY=',
      'LONE="',
      'EQUALS=a=b=c',
      'CRLF=yes\r',
    ].join('\n'),
  });
  t.same(readEnvFile(join(dir, 'agent.env')), {
    PLAIN: 'value with spaces',
    EXPORTED: '1',
    INDENTED: 'spaced',
    DOUBLE: 'a "quoted" word\nand a line\\',
    SINGLE: 'kept \\n as is',
    EMPTY: '',
    LONE: '"',
    EQUALS: 'a=b=c',
    CRLF: 'yes',
  });
});

t.test('a malformed line names the file and line, never its text (it may hold a secret)', async (t) => {
  const dir = t.testdir({ 'bad.env': 'GOOD=1\n\nsk-ant-secret-token\n', 'key.env': 'MY-KEY=x\n' });
  const file = join(dir, 'bad.env');
  const err = t.throws(() => readEnvFile(file)) as AgentRunnerError;
  t.ok(err instanceof AgentRunnerError);
  t.match(err, { code: 'ERR_AR_CONFIG_SEMANTIC', location: { file, line: 3 }, expected: 'KEY=VALUE' });
  t.notMatch(JSON.stringify({ ...err, message: err.message }), /sk-ant-secret-token/, 'the line is not quoted');
  t.throws(
    () => readEnvFile(join(dir, 'key.env')),
    { code: 'ERR_AR_CONFIG_SEMANTIC', location: { line: 1 } },
    'a key that is no shell name',
  );
});

t.test('a file that cannot be read: ERR_AR_IO with its path', async (t) => {
  const dir = t.testdir({});
  const file = join(dir, 'missing.env');
  t.throws(() => readEnvFile(file), { code: 'ERR_AR_IO', location: { file }, message: new RegExp(`cannot read env file ${file}: ENOENT`) });
});
