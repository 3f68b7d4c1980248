import t from 'tap';
import { parseConfig } from '@agent-runner/core/config';
import { DEFAULT_SETTINGS, remoteCommandOf, settingsFromConfig } from '../src/settings.js';

const minimal = (extra = '') =>
  parseConfig(`[agent]\ncommand = ["sh"]\n[prompt]\nfile = "P.md"\n${extra}`, '/srv/p/agent-runner.toml', {
    env: { HOME: '/home/u' },
    mode: 'user',
    skipFileChecks: true,
  });

t.test('without a config file the monitor runs on what the loader fills into an empty [monitor]', async (t) => {
  // Remote hosts: the stale threshold comes from each host's own defenses, with or without a file.
  t.same(DEFAULT_SETTINGS, settingsFromConfig(minimal(), { remote: true }));
  t.equal(DEFAULT_SETTINGS.supervisor_stale_threshold_s, undefined);
  t.equal(DEFAULT_SETTINGS.poll_interval_s, 30, 'a schema default reaches the settings');
});

t.test('a set key wins over its default; locally the resolved stale threshold is kept', async (t) => {
  const s = settingsFromConfig(
    minimal('[monitor]\npoll_interval_s = 7\ndisk_warning_pct = 80\ndisable = ["mem_pressure"]\n[runtime]\nround_timeout_s = 100\n'),
  );
  t.equal(s.poll_interval_s, 7);
  t.equal(s.disk_warning_pct, 80);
  t.same(s.disable, ['mem_pressure']);
  t.equal(s.supervisor_stale_threshold_s, 150, '1.5 x round_timeout_s');
  t.equal(s.window_rounds, DEFAULT_SETTINGS.window_rounds, 'detector constants are the same either way');
});

t.test('a [monitor.hosts.NAME] table makes the remote command: its own command, its config quoted for the remote shell', async (t) => {
  const s = settingsFromConfig(
    minimal(
      `[monitor]\nremote_command = "ar"\n[monitor.hosts.pi]\nconfig = "~/it's here/agent-runner.toml"\n[monitor.hosts.nas]\nremote_command = "/opt/ar/bin/agent-runner"\nconfig = "/srv/p/agent-runner.toml"\n[monitor.hosts.bare]\n`,
    ),
    { remote: true },
  );
  t.equal(
    remoteCommandOf(s, 'pi'),
    `ar --config ~/'it'\\''s here/agent-runner.toml'`,
    '~/ stays outside the quotes, so the remote shell expands it',
  );
  t.equal(remoteCommandOf(s, 'nas'), `/opt/ar/bin/agent-runner --config '/srv/p/agent-runner.toml'`);
  t.equal(remoteCommandOf(s, 'bare'), 'ar', 'an empty table: monitor.remote_command');
  t.equal(remoteCommandOf(s, 'elsewhere'), 'ar', 'a host with no table');
  t.same(s.hosts['pi'], { config: "~/it's here/agent-runner.toml" }, 'remote paths are not resolved here');
});
