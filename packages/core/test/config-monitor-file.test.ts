import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadMonitorConfig } from '@agent-runner/core/config';
import { isAgentRunnerError } from '@agent-runner/core/errors';

const opts = { env: { HOME: '/home/u' }, mode: 'user' as const, skipFileChecks: true };

t.test("a file with [agent] or [prompt] is a project's config; one with only [monitor] is a monitor's own", async (t) => {
  const dir = t.testdir({
    'project.toml': 'project = "p"\n[agent]\ncommand = ["true"]\n[prompt]\nfile = "P.md"\n[monitor.hosts.pi]\nssh = "pi.lan"\n',
    'monitor.toml': '[monitor]\npoll_interval_s = 9\n[monitor.hosts.pi]\nssh = "pi.lan"\n',
    'empty.toml': '',
  });
  const project = loadMonitorConfig(join(dir, 'project.toml'), opts);
  t.equal(project.kind, 'project');
  t.match(project, { cfg: { monitor: { hosts: { pi: { ssh: 'pi.lan' } } } } });
  const own = loadMonitorConfig(join(dir, 'monitor.toml'), opts);
  t.same(own.kind === 'monitor' && own.monitor.hosts, { pi: { ssh: 'pi.lan' } });
  t.match(own, { monitor: { poll_interval_s: 9, remote_command: 'agent-runner' } }, 'set keys and the defaults');
  t.notOk('cfg' in own, "no project comes out of a monitor's config");
  t.match(loadMonitorConfig(join(dir, 'empty.toml'), opts), { kind: 'monitor', monitor: { hosts: {} } }, 'an empty file: every default');
});

t.test("a monitor's config: the schema's messages, and a project's table named as out of place", async (t) => {
  const dir = t.testdir({
    'typo.toml': '[monitor.hosts.pi]\nport = 22\n',
    'runtime.toml': '[monitor]\n[runtime]\nmax_rounds = 1\n',
    'badname.toml': '[monitor.hosts."a b"]\n',
  });
  const err = (f: string): unknown => {
    try {
      loadMonitorConfig(join(dir, f), opts);
    } catch (e) {
      return e;
    }
    return undefined;
  };
  const typo = err('typo.toml');
  t.ok(isAgentRunnerError(typo));
  t.match(typo, { code: 'ERR_AR_CONFIG_UNKNOWN_KEY', exitCode: 78, location: { line: 2 } });
  t.match(err('runtime.toml'), { code: 'ERR_AR_CONFIG_UNKNOWN_KEY', message: /`runtime` in a monitor's config/ });
  t.match(err('badname.toml'), { message: /invalid name `monitor\.hosts\."a b"`/ }, 'a host name the schema refuses');
  writeFileSync(join(dir, 'x.toml'), '[monitor\n');
  t.match(err('x.toml'), { code: 'ERR_AR_CONFIG_SYNTAX' });
});
