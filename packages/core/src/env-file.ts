import { readFileSync } from 'node:fs';
import { AgentRunnerError } from './errors.js';

/**
 * Reads a `KEY=VALUE` file in systemd `EnvironmentFile=` syntax: `#` and `;` comment lines,
 * blank lines, optional `export ` prefix, values optionally in single or double quotes
 * (double quotes honour `\"`, `\\`, `\n`). Read every round, so a rotated key is picked up
 * without a restart.
 * @throws AgentRunnerError ERR_AR_CONFIG_SEMANTIC naming the file and line of a malformed line,
 *   ERR_AR_IO when it cannot be read.
 */
export function readEnvFile(path: string): Record<string, string> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new AgentRunnerError('ERR_AR_IO', `cannot read env file ${path}: ${(e as Error).message}`, {
      location: { file: path },
      cause: e,
    });
  }
  const env: Record<string, string> = {};
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) return;
    const m = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(line);
    if (!m) {
      throw new AgentRunnerError('ERR_AR_CONFIG_SEMANTIC', `malformed line in env file`, {
        location: { file: path, line: i + 1 },
        expected: 'KEY=VALUE',
        found: `a line of ${line.length} characters (not shown: it may hold a secret)`,
      });
    }
    let value = m[2] as string;
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) {
      value = value.slice(1, -1).replace(/\\(["\\n])/g, (_s, c: string) => (c === 'n' ? '\n' : c));
    } else if (value.length >= 2 && value.startsWith("'") && value.endsWith("'")) value = value.slice(1, -1);
    env[m[1] as string] = value;
  });
  return env;
}
