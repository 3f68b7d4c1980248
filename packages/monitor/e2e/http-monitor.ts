/** A real `agent-runner monitor --mode http --port 0` of a project, for the e2e suites. */
import { spawn } from 'node:child_process';
import { CLI_BIN } from '@agent-runner/testkit/project';
import { until } from '@agent-runner/testkit/until';
import type { Test } from 'tap';
import type { ScenarioProject } from '../test/fixtures/scenario.js';

/**
 * Starts the monitor in `p`, waits (40 s at most) for the address it logs, and kills it at the
 * end of `t`. @returns its port and base URL, `http://127.0.0.1:PORT`.
 */
export async function startHttpMonitor(t: Test, p: ScenarioProject): Promise<{ port: number; base: string }> {
  const mon = spawn(process.execPath, [CLI_BIN, 'monitor', '--mode', 'http', '--port', '0'], {
    cwd: p.dir,
    env: p.env,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  mon.stderr?.setEncoding('utf8').on('data', (d: string) => (err += d));
  mon.on('close', (code, sig) => (err += `\n[monitor exited ${code} ${sig}]`));
  t.teardown(() => mon.kill('SIGKILL'));
  await until(
    () => `the monitor to serve (stderr: ${err})`,
    () => /127\.0\.0\.1:(\d+)\//.test(err),
    40_000,
  );
  const port = Number(/127\.0\.0\.1:(\d+)\//.exec(err)?.[1]);
  return { port, base: `http://127.0.0.1:${port}` };
}
