import t from 'tap';
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig, parseConfig, renderConfigDoc } from '../src/config/index.js';
import { AgentRunnerError } from '../src/errors.js';

const root = new URL('../../../', import.meta.url).pathname;
const env = { HOME: '/home/op' };
const parse = (src: string) => parseConfig(src, '/srv/p/agent-runner.toml', { env, mode: 'user', skipFileChecks: true });
const MIN = '[agent]\ncommand = ["claude"]\n[prompt]\nfile = "P.md"\n';

function fails(src: string): AgentRunnerError {
  try {
    parse(src);
  } catch (e) {
    if (e instanceof AgentRunnerError) return e;
    throw e;
  }
  throw new Error('expected the config to be rejected');
}

t.test('every shipped example validates, with file checks', async (t) => {
  const dirs = readdirSync(join(root, 'examples')).filter((d) => existsSync(join(root, 'examples', d, 'agent-runner.toml')));
  t.ok(dirs.length >= 3, 'at least three examples');
  for (const d of dirs) {
    const cfg = loadConfig(join(root, 'examples', d, 'agent-runner.toml'), { env, mode: 'user' });
    t.equal(cfg.runtime.work_dir, join(root, 'examples', d), `${d}: work_dir resolves against the config file`);
    t.ok(
      cfg.prompt.files.every((f) => f.startsWith('/')),
      `${d}: prompt paths absolute`,
    );
  }
});

t.test('defaults, derived values and paths', async (t) => {
  const cfg = parse(MIN);
  t.equal(cfg.project, 'p', 'project defaults to the work dir basename');
  t.equal(cfg.runtime.state_dir, '/home/op/.local/state/agent-runner/p', 'XDG state home in user mode');
  t.equal(cfg.runtime.log_dir, '/home/op/.local/state/agent-runner/p/logs');
  t.equal(cfg.runtime.stop_file, '/home/op/.local/state/agent-runner/p/run/stop-requested');
  t.equal(cfg.runtime.restart_delay_s, 5);
  t.equal(cfg.monitor.supervisor_stale_threshold_s, 5400, '1.5 x round_timeout_s');
  t.equal(cfg.agent.prompt_delivery, 'stdin');
  t.same(cfg.prompt.files, ['/srv/p/P.md']);
  t.equal(cfg.vcs.dirty_action, 'stash');
  t.same(cfg.watchdog.stale_after_s, { runner: 45, bridge: 45, monitor: 45 });
  t.equal(cfg.watchdog.targets, undefined, 'no targets: systemd says which units are installed (without systemd: the runner)');

  const sys = parseConfig(MIN, '/srv/p/agent-runner.toml', { env: {}, mode: 'system', skipFileChecks: true });
  t.equal(sys.runtime.state_dir, '/var/lib/agent-runner/p', 'FHS state in system mode');
  t.equal(sys.runtime.log_dir, '/var/log/agent-runner/p', 'FHS logs in system mode');
  const sd = parseConfig(MIN, '/srv/p/agent-runner.toml', {
    env: { STATE_DIRECTORY: '/var/lib/x', LOGS_DIRECTORY: '/var/log/x' },
    mode: 'system',
    skipFileChecks: true,
  });
  t.equal(sd.runtime.state_dir, '/var/lib/x', 'systemd StateDirectory= wins');

  const x = parse(
    `project = "demo"\n${MIN}[runtime]\nrestart_delay_s = 0\nstate_dir = "~/st/{project}"\nlog_dir = "logs"\nnarrative_file = "n.md"\n`,
  );
  t.equal(x.runtime.restart_delay_s, 0, 'restart_delay_s = 0 is allowed (the Python anchor rejects it)');
  t.equal(x.runtime.state_dir, '/home/op/st/demo', '~ and {project} expanded');
  t.equal(x.runtime.log_dir, '/srv/p/logs', 'relative to the config file');
  t.equal(x.runtime.narrative_file, '/srv/p/n.md');
});

t.test('phases inherit and override the prompt', async (t) => {
  const cfg = parse(`${MIN}[phases]\nlist = ["a", "b"]\n[phases.b]\nprompt.files = ["b1.md", "b2.md"]\nround_timeout_s = 10\n`);
  t.same(
    cfg.phases.map((p) => p.name),
    ['a', 'b'],
  );
  t.same(cfg.phases[0]?.prompt.files, ['/srv/p/P.md'], 'phase without prompt uses [prompt]');
  t.same(cfg.phases[1]?.prompt.files, ['/srv/p/b1.md', '/srv/p/b2.md']);
  t.equal(cfg.phases[1]?.round_timeout_s, 10);
});

interface Broken {
  name: string;
  src: string;
  code: string;
  line?: number;
  column?: number;
  key?: string;
  hint?: RegExp;
  message?: RegExp;
}

const CORPUS: Broken[] = [
  { name: 'syntax: double equals', src: '[agent]\ncommand = = ["x"]\n', code: 'ERR_AR_CONFIG_SYNTAX', line: 2, column: 11 },
  { name: 'syntax: unterminated string', src: '[agent]\ncommand = ["x\n', code: 'ERR_AR_CONFIG_SYNTAX', line: 2 },
  { name: 'syntax: duplicate table', src: `${MIN}[runtime]\n[runtime]\n`, code: 'ERR_AR_CONFIG_SYNTAX', line: 6 },
  {
    name: 'syntax: duplicate key',
    src: `${MIN}[vcs]\ndirty_action = "stash"\ndirty_action = "commit"\n`,
    code: 'ERR_AR_CONFIG_SYNTAX',
    line: 7,
  },
  {
    name: 'unknown key with typo',
    src: `${MIN}[runtime]\nrestart_dealy_s = 5\n`,
    code: 'ERR_AR_CONFIG_UNKNOWN_KEY',
    line: 6,
    column: 1,
    key: 'runtime.restart_dealy_s',
    hint: /runtime\.restart_delay_s/,
  },
  {
    name: 'key in the wrong section',
    src: `[agent]\ncommand = ["c"]\nmax_rounds = 3\n[prompt]\nfile = "P.md"\n`,
    code: 'ERR_AR_CONFIG_UNKNOWN_KEY',
    line: 3,
    key: 'agent.max_rounds',
    hint: /runtime\.max_rounds/,
  },
  { name: 'unknown section', src: `${MIN}[runtimes]\n`, code: 'ERR_AR_CONFIG_UNKNOWN_KEY', line: 5, key: 'runtimes', hint: /`runtime`/ },
  {
    name: 'unknown dotted key',
    src: `${MIN}[phases]\nlist = ["a"]\n[phases.a]\nprompt.fiel = "x.md"\n`,
    code: 'ERR_AR_CONFIG_UNKNOWN_KEY',
    line: 8,
    key: 'phases.a.prompt.fiel',
    hint: /prompt\.file/,
  },
  {
    name: 'unknown key in inline table',
    src: `${MIN}[runtime]\nbackoff = { base_s = 1, maxs = 9 }\n`,
    code: 'ERR_AR_CONFIG_UNKNOWN_KEY',
    line: 6,
    key: 'runtime.backoff.maxs',
    hint: /max_s/,
  },
  {
    name: 'monitor page bound to a name, not an address',
    src: `${MIN}[monitor]\nhttp_bind = "localhost"\n`,
    code: 'ERR_AR_CONFIG_INVALID',
    line: 6,
    key: 'monitor.http_bind',
  },
  {
    name: 'monitor page open to the network without a token',
    src: `${MIN}[monitor]\nhttp_bind = "::"\n`,
    code: 'ERR_AR_CONFIG_SEMANTIC',
    line: 6,
    key: 'monitor.http_bind',
    message: /is not loopback/,
  },
  {
    name: 'hook with an unknown event',
    src: `${MIN}[hooks.x]\non = "pre_commit"\ncommand = ["x"]\n`,
    code: 'ERR_AR_CONFIG_INVALID',
    line: 6,
    key: 'hooks.x.on',
  },
  { name: 'hook without a command', src: `${MIN}[hooks.x]\non = "pre_round"\n`, code: 'ERR_AR_CONFIG_INVALID', message: /command/ },
  {
    name: 'post_round hook cannot skip a round',
    src: `${MIN}[hooks.x]\non = "post_round"\ncommand = ["x"]\non_failure = "skip_round"\n`,
    code: 'ERR_AR_CONFIG_SEMANTIC',
    line: 8,
    key: 'hooks.x.on_failure',
    message: /no round to skip/,
  },
  {
    name: 'detector hook cannot stop serve',
    src: `${MIN}[hooks.x]\non = "detector"\ncommand = ["x"]\non_failure = "stop"\n`,
    code: 'ERR_AR_CONFIG_SEMANTIC',
    line: 8,
    key: 'hooks.x.on_failure',
  },
  {
    name: 'hook key typo',
    src: `${MIN}[hooks.x]\non = "pre_round"\ncommand = ["x"]\ntimeout = 5\n`,
    code: 'ERR_AR_CONFIG_UNKNOWN_KEY',
    line: 8,
    key: 'hooks.x.timeout',
    hint: /timeout_s/,
  },
  {
    name: 'wrong type: command as string',
    src: '[agent]\ncommand = "claude"\n[prompt]\nfile = "P.md"\n',
    code: 'ERR_AR_CONFIG_INVALID',
    line: 2,
    key: 'agent.command',
    message: /wrong type/,
  },
  {
    name: 'wrong type: float for integer',
    src: `${MIN}[runtime]\nmax_rounds = 1.5\n`,
    code: 'ERR_AR_CONFIG_INVALID',
    line: 6,
    key: 'runtime.max_rounds',
  },
  {
    name: 'wrong type: string for number',
    src: `${MIN}[runtime]\nround_timeout_s = "1h"\n`,
    code: 'ERR_AR_CONFIG_INVALID',
    line: 6,
    key: 'runtime.round_timeout_s',
  },
  {
    name: 'out of range: negative delay',
    src: `${MIN}[runtime]\nrestart_delay_s = -1\n`,
    code: 'ERR_AR_CONFIG_INVALID',
    line: 6,
    key: 'runtime.restart_delay_s',
    message: /out of range/,
  },
  {
    name: 'out of range: zero timeout',
    src: `${MIN}[runtime]\nround_timeout_s = 0\n`,
    code: 'ERR_AR_CONFIG_INVALID',
    line: 6,
    key: 'runtime.round_timeout_s',
  },
  {
    name: 'out of range: port',
    src: `${MIN}[monitor]\nhttp_port = 70000\n`,
    code: 'ERR_AR_CONFIG_INVALID',
    line: 6,
    key: 'monitor.http_port',
  },
  {
    name: 'enum',
    src: `${MIN}[vcs]\ndirty_action = "nuke"\n`,
    code: 'ERR_AR_CONFIG_INVALID',
    line: 6,
    key: 'vcs.dirty_action',
    message: /accepted value/,
  },
  {
    name: 'missing [agent]',
    src: '[prompt]\nfile = "P.md"\n',
    code: 'ERR_AR_CONFIG_INVALID',
    key: 'agent',
    message: /missing required key/,
  },
  {
    name: 'missing agent.command',
    src: '[agent]\npreset = "claude"\n[prompt]\nfile = "P.md"\n',
    code: 'ERR_AR_CONFIG_INVALID',
    line: 1,
    key: 'agent.command',
  },
  {
    name: 'empty command',
    src: '[agent]\ncommand = []\n[prompt]\nfile = "P.md"\n',
    code: 'ERR_AR_CONFIG_INVALID',
    line: 2,
    key: 'agent.command',
  },
  {
    name: 'prompt without file',
    src: '[agent]\ncommand = ["c"]\n[prompt]\nconcat_separator = "x"\n',
    code: 'ERR_AR_CONFIG_INVALID',
    key: 'prompt.file',
    message: /needs `file` or `files`/,
  },
  {
    name: 'prompt with both',
    src: '[agent]\ncommand = ["c"]\n[prompt]\nfile = "a"\nfiles = ["b"]\n',
    code: 'ERR_AR_CONFIG_SEMANTIC',
    line: 5,
    key: 'prompt.files',
  },
  {
    name: 'phase not listed',
    src: `${MIN}[phases]\nlist = ["a"]\n[phases.b]\nround_timeout_s = 5\n`,
    code: 'ERR_AR_CONFIG_SEMANTIC',
    line: 7,
    key: 'phases.b',
  },
  { name: 'bad phase name', src: `${MIN}[phases]\nlist = ["Bad Name"]\n`, code: 'ERR_AR_CONFIG_INVALID', line: 6, key: 'phases.list[0]' },
  {
    name: 'argv delivery without {prompt}',
    src: '[agent]\ncommand = ["c"]\nprompt_delivery = "argv"\nprompt_arg_template = ["-p"]\n[prompt]\nfile = "P.md"\n',
    code: 'ERR_AR_CONFIG_SEMANTIC',
    line: 4,
    key: 'agent.prompt_arg_template',
  },
  {
    name: 'invalid regex',
    src: `${MIN}[runtime]\ngrace_kill_ignore_patterns = ["(unclosed"]\n`,
    code: 'ERR_AR_CONFIG_INVALID',
    line: 6,
    key: 'runtime.grace_kill_ignore_patterns[0]',
    message: /regex/,
  },
  {
    name: 'notify: unknown type',
    src: `${MIN}[notify.x]\ntype = "pager"\n`,
    code: 'ERR_AR_CONFIG_INVALID',
    line: 6,
    key: 'notify.x.type',
    message: /not a known transport/,
  },
  {
    name: 'notify: missing required',
    src: `${MIN}[notify.tg]\ntype = "telegram"\n`,
    code: 'ERR_AR_CONFIG_INVALID',
    line: 5,
    key: 'notify.tg.chat_id',
  },
  {
    name: 'notify: literal secret key rejected',
    src: `${MIN}[notify.tg]\ntype = "telegram"\nchat_id = 1\nbot_token = "123:abc"\n`,
    code: 'ERR_AR_CONFIG_UNKNOWN_KEY',
    line: 8,
    key: 'notify.tg.bot_token',
    hint: /bot_token_(env|file)/,
  },
  {
    name: 'notify: bad email',
    src: `${MIN}[notify.m]\ntype = "email"\nsmtp_host = "h"\nfrom = "a@b"\nto = ["nobody"]\n`,
    code: 'ERR_AR_CONFIG_INVALID',
    line: 9,
    key: 'notify.m.to[0]',
  },
  {
    name: 'notify: bad table name',
    src: `${MIN}[notify.Bad]\ntype = "ntfy"\ntopic = "t"\n`,
    code: 'ERR_AR_CONFIG_UNKNOWN_KEY',
    line: 5,
    key: 'notify.Bad',
  },
  {
    name: 'quiet hours format',
    src: `${MIN}[bridge]\nquiet_hours = "10pm-7am"\n`,
    code: 'ERR_AR_CONFIG_INVALID',
    line: 6,
    key: 'bridge.quiet_hours',
  },
  {
    name: 'backoff max below base',
    src: `${MIN}[runtime.backoff]\nbase_s = 100\nmax_s = 10\n`,
    code: 'ERR_AR_CONFIG_SEMANTIC',
    line: 7,
    key: 'runtime.backoff.max_s',
  },
  {
    name: 'watchdog threshold below heartbeat',
    src: `${MIN}[runtime]\nheartbeat_interval_s = 60\n[watchdog.stale_after_s]\nrunner = 90\n`,
    code: 'ERR_AR_CONFIG_SEMANTIC',
    line: 8,
    key: 'watchdog.stale_after_s.runner',
  },
  { name: 'bad project name', src: `project = "my project"\n${MIN}`, code: 'ERR_AR_CONFIG_INVALID', line: 1, key: 'project' },
  {
    name: 'context file missing',
    src: `${MIN}[runtime]\ncontext = "file"\n`,
    code: 'ERR_AR_CONFIG_SEMANTIC',
    line: 6,
    key: 'runtime.context',
  },
];

t.test('broken configs: specific message, location, key, exit 78', async (t) => {
  for (const c of CORPUS) {
    const e = fails(c.src);
    t.equal(e.code, c.code, `${c.name}: code`);
    t.equal(e.exitCode, 78, `${c.name}: exit 78`);
    t.equal(e.location?.file, '/srv/p/agent-runner.toml', `${c.name}: names the file`);
    if (c.line !== undefined) t.equal(e.location?.line, c.line, `${c.name}: line`);
    if (c.column !== undefined) t.equal(e.location?.column, c.column, `${c.name}: column`);
    if (c.key !== undefined) t.equal(e.key, c.key, `${c.name}: key`);
    if (c.hint) t.match(e.hint, c.hint, `${c.name}: hint`);
    if (c.message) t.match(e.message, c.message, `${c.name}: message`);
    if (c.code !== 'ERR_AR_CONFIG_SYNTAX')
      t.ok(e.expected !== undefined && e.found !== undefined, `${c.name}: says what was expected and found`);
  }
});

t.test('every problem is reported, not just the first', async (t) => {
  const e = fails(`${MIN}[runtime]\nrestart_delay_s = -1\nmax_rounds = "x"\nbogus = 1\n`);
  t.equal(e.more.length, 2, 'three problems in one pass');
  t.same([e.location?.line, ...e.more.map((m) => m.location?.line)], [6, 7, 8], 'ordered by line');
});

t.test('missing files are semantic errors when checked', async (t) => {
  t.throws(() => loadConfig('/nonexistent/agent-runner.toml', { env, mode: 'user' }), { code: 'ERR_AR_CONFIG_NOT_FOUND' });
  const e = (() => {
    try {
      parseConfig(MIN, '/nonexistent-dir/agent-runner.toml', { env, mode: 'user' });
    } catch (err) {
      return err as AgentRunnerError;
    }
    return undefined;
  })();
  t.equal(e?.code, 'ERR_AR_CONFIG_SEMANTIC');
  const all = [e?.message, ...(e?.more ?? []).map((m) => m.message)].join('\n');
  t.match(all, /work dir does not exist: \/nonexistent-dir/);
  t.match(all, /prompt file does not exist: \/nonexistent-dir\/P\.md/);
});

t.test('docs/configuration.md is generated from the schema and current', async (t) => {
  const doc = readFileSync(join(root, 'docs/configuration.md'), 'utf8');
  t.equal(doc, renderConfigDoc(), 'docs/configuration.md is stale: run `npm run docs`');
  t.match(doc, /restart_delay_s/);
});

// Random mutations of valid configs must only ever produce a valid config or a classified
// config error: never a stack trace, never an unclassified exception.
t.test('mutation fuzz: no unclassified errors', async (t) => {
  const seeds = readdirSync(join(root, 'examples'))
    .map((d) => join(root, 'examples', d, 'agent-runner.toml'))
    .filter(existsSync)
    .map((f) => readFileSync(f, 'utf8'));
  const N = Number(process.env['CONFIG_FUZZ_N'] ?? 3000);
  let seed = 12345;
  const rand = (n: number): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  const junk = ['=', '"', "'", '[', ']', '{', '}', ',', '.', '\n', '#', '-1', '1e999', 'true', '"x"', '[[a]]', '\\', '\u0000', 'é', '"""'];
  const values = ['-5', '0', '1.5', '"str"', 'true', '[]', '[1, "a"]', '{}', '{ a = 1 }', '1979-05-27T07:32:00Z', 'nan', 'inf'];
  const classified = new Set(['ERR_AR_CONFIG_SYNTAX', 'ERR_AR_CONFIG_UNKNOWN_KEY', 'ERR_AR_CONFIG_INVALID', 'ERR_AR_CONFIG_SEMANTIC']);
  const counts: Record<string, number> = {};
  for (let i = 0; i < N; i++) {
    let src = seeds[rand(seeds.length)] as string;
    for (let k = 0, m = 1 + rand(3); k < m; k++) {
      const lines = src.split('\n');
      const li = rand(lines.length);
      const line = lines[li] ?? '';
      switch (rand(6)) {
        case 0: {
          const p = rand(src.length);
          src = src.slice(0, p) + src.slice(p + 1 + rand(4));
          break;
        }
        case 1: {
          const p = rand(src.length);
          src = src.slice(0, p) + (junk[rand(junk.length)] as string) + src.slice(p);
          break;
        }
        case 2:
          lines[li] = line.includes('=') ? `${line.split('=')[0]}= ${values[rand(values.length)] as string}` : line;
          src = lines.join('\n');
          break;
        case 3:
          lines.splice(li, 0, line);
          src = lines.join('\n');
          break;
        case 4: {
          const kp = rand(Math.max(1, line.indexOf('=')));
          lines[li] = line.slice(0, kp) + line.slice(kp + 1);
          src = lines.join('\n');
          break;
        }
        default:
          lines.splice(li, 1);
          src = lines.join('\n');
      }
    }
    try {
      parse(src);
      counts['valid'] = (counts['valid'] ?? 0) + 1;
    } catch (e) {
      if (!(e instanceof AgentRunnerError) || !classified.has(e.code) || e.exitCode !== 78 || !e.message) {
        t.fail(`unclassified error for mutated config:\n${src}\n---\n${(e as Error).stack ?? String(e)}`);
        return;
      }
      counts[e.code] = (counts[e.code] ?? 0) + 1;
    }
  }
  t.pass(`${N} mutated configs, all classified: ${JSON.stringify(counts)}`);
  t.ok(Object.keys(counts).length >= 4, 'the fuzz reaches several error classes');
});

t.test('monitor page binds: loopback needs nothing, any other address a token', async (t) => {
  for (const bind of ['127.0.0.1', '127.3.2.1', '::1', '0:0:0:0:0:0:0:1'])
    t.equal(parse(`${MIN}[monitor]\nhttp_bind = "${bind}"\n`).monitor.http_bind, bind, bind);
  const open = parse(`${MIN}[monitor]\nhttp_bind = "0.0.0.0"\nhttp_token_file = "secrets/page.token"\n`).monitor;
  t.equal(open.http_token_file, '/srv/p/secrets/page.token', 'the token file resolves against the config dir');
  t.equal(parse(`${MIN}[monitor]\nhttp_bind = "192.168.1.20"\nhttp_token_env = "PAGE_TOKEN"\n`).monitor.http_token_env, 'PAGE_TOKEN');
  for (const bad of ['256.1.1.1', '1.2.3', 'fe80::1%eth0', '[::1]', '01.2.3.4'])
    t.equal(fails(`${MIN}[monitor]\nhttp_bind = "${bad}"\n`).code, 'ERR_AR_CONFIG_INVALID', bad);
});

t.test('hooks: per-event on_failure defaults, command paths against the work dir, commands checked', async (t) => {
  const cfg = parse(
    `${MIN}[hooks.fetch]\non = "pre_round"\ncommand = ["./scripts/next.sh", "--one"]\n[hooks.tests]\non = "post_round"\ncommand = ["npm", "test"]\ntimeout_s = 600\n[hooks.boot]\non = "serve_start"\ncommand = ["/usr/bin/true"]\nenabled = false\n`,
  );
  t.match(cfg.hooks, [
    {
      name: 'fetch',
      on: 'pre_round',
      command: ['/srv/p/scripts/next.sh', '--one'],
      timeout_s: 30,
      on_failure: 'skip_round',
      enabled: true,
      pass_env: [],
    },
    { name: 'tests', on: 'post_round', command: ['npm', 'test'], timeout_s: 600, on_failure: 'continue' },
    { name: 'boot', on: 'serve_start', on_failure: 'stop', enabled: false },
  ]);
  t.same(parse(MIN).hooks, [], 'none by default');
  const missing = (() => {
    try {
      parseConfig(
        `${MIN}[hooks.fetch]\non = "pre_round"\ncommand = ["./nope.sh"]\n[hooks.gone]\non = "post_round"\ncommand = ["no-such-command-xyz"]\n`,
        `${root}agent-runner.toml`,
        { env: { ...env, PATH: '/usr/bin:/bin' }, mode: 'user' },
      );
    } catch (e) {
      return e as AgentRunnerError;
    }
    return undefined;
  })();
  const all = [missing?.message, ...(missing?.more ?? []).map((m) => m.message)].join('\n');
  t.match(all, /hook fetch: .*nope\.sh does not exist/);
  t.match(all, /hook gone: no-such-command-xyz is not on PATH \(\/usr\/bin:\/bin\)/);
});
