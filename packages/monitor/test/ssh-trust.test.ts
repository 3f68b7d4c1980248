/**
 * ~/.ssh/config resolution and known_hosts verification against files written by the real
 * OpenSSH tools (ssh-keygen makes the keys and hashes known_hosts; `ssh-keygen -F` reads the
 * lines the monitor appends).
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { appendKnownHost, checkHostKey, fingerprint, keyTypeOf } from '../src/known-hosts.js';
import { parseJump, resolveSshHost } from '../src/ssh-config.js';

const dir = mkdtempSync(join(tmpdir(), 'ar-ssh-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const env = { home: dir, user: 'me' };

function keygen(name: string): Buffer {
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', join(dir, name)]);
  return Buffer.from(readFileSync(join(dir, `${name}.pub`), 'utf8').split(' ')[1] as string, 'base64');
}

t.test('ssh config: first value wins, patterns, negation, Include, expansion, ProxyJump', async (t) => {
  mkdirSync(join(dir, '.ssh'), { recursive: true });
  writeFileSync(join(dir, '.ssh', 'extra.conf'), 'Host pi\n  Port 2200\n');
  writeFileSync(
    join(dir, '.ssh', 'config'),
    `# comment
Include extra.conf
Host pi pi-*
  HostName %h.lan
  User pi
  IdentityFile ~/.ssh/id_pi
  StrictHostKeyChecking yes
Host pi
  User ignored
  Port 2222
Host * !bastion
  ProxyJump admin@bastion:2201
  IdentityFile %d/.ssh/id_%r
Host=bastion
  HostName=10.0.0.1
  UserKnownHostsFile "~/.ssh/kh one" ~/.ssh/kh2
Match host foo
  User matched
`,
  );
  const pi = resolveSshHost('pi', join(dir, '.ssh', 'config'), env);
  t.match(pi, { hostName: 'pi.lan', user: 'pi', port: 2200, strictHostKeyChecking: 'yes', proxyJump: ['admin@bastion:2201'] });
  t.same(pi.identityFiles, [join(dir, '.ssh/id_pi'), join(dir, '.ssh/id_pi')], 'IdentityFile accumulates, %d and %r expanded');
  t.same(pi.knownHostsFiles, [join(dir, '.ssh/known_hosts'), join(dir, '.ssh/known_hosts2')]);
  const b = resolveSshHost('bastion', join(dir, '.ssh', 'config'), env);
  t.match(b, { hostName: '10.0.0.1', user: 'me', port: 22, proxyJump: [] });
  t.same(b.knownHostsFiles, [join(dir, '.ssh/kh one'), join(dir, '.ssh/kh2')]);
  const none = resolveSshHost('pi-2', join(dir, 'missing'), env);
  t.match(none, { hostName: 'pi-2', user: 'me', port: 22, identityFiles: [] });
  t.same(parseJump('u@[::1]:2022'), { user: 'u', host: '::1', port: 2022 });
  t.same(parseJump('jump'), { user: undefined, host: 'jump', port: undefined });
});

t.test('known_hosts: plain and hashed lines, ports, mismatch, revoked, unknown', async (t) => {
  const good = keygen('host_good');
  const evil = keygen('host_evil');
  t.equal(keyTypeOf(good), 'ssh-ed25519');
  t.match(fingerprint(good), /^SHA256:[A-Za-z0-9+/]{43}$/);
  const kh = join(dir, 'known_hosts');
  writeFileSync(
    kh,
    `# test\n[127.0.0.1]:2222 ssh-ed25519 ${good.toString('base64')}\nexample.org,10.1.1.1 ssh-ed25519 ${good.toString('base64')}\n`,
  );
  t.match(checkHostKey([kh], '127.0.0.1', 2222, good), { verdict: 'match', where: `${kh}:2` });
  t.match(checkHostKey([kh], '127.0.0.1', 2222, evil), { verdict: 'mismatch', where: `${kh}:2`, knownTypes: ['ssh-ed25519'] });
  t.match(checkHostKey([kh], '127.0.0.1', 22, good), { verdict: 'unknown' }, 'the port is part of the name');
  t.match(checkHostKey([kh], '10.1.1.1', 22, good), { verdict: 'match' });
  // Hash the file as `HashKnownHosts yes` / `ssh-keygen -H` does.
  execFileSync('ssh-keygen', ['-H', '-f', kh], { stdio: 'ignore' });
  t.notMatch(readFileSync(kh, 'utf8'), /127\.0\.0\.1/, 'the names are hashed now');
  t.match(checkHostKey([kh], '127.0.0.1', 2222, good), { verdict: 'match' }, 'hashed entry matches');
  t.match(checkHostKey([kh], '127.0.0.1', 2222, evil), { verdict: 'mismatch' }, 'hashed entry refuses another key');
  writeFileSync(join(dir, 'revoked'), `@revoked * ssh-ed25519 ${evil.toString('base64')}\n`);
  t.match(checkHostKey([join(dir, 'revoked'), kh], 'example.org', 22, evil), { verdict: 'revoked' });
  t.match(checkHostKey([join(dir, 'nope')], 'x', 22, good), { verdict: 'unknown', knownTypes: [] });
});

t.test('appendKnownHost writes a hashed line that OpenSSH itself finds', async (t) => {
  const key = keygen('host_new');
  const kh = join(dir, 'sub', 'known_hosts_new');
  appendKnownHost(kh, '127.0.0.1', 2299, key);
  t.match(checkHostKey([kh], '127.0.0.1', 2299, key), { verdict: 'match' });
  const found = execFileSync('ssh-keygen', ['-F', '[127.0.0.1]:2299', '-f', kh], { encoding: 'utf8' });
  t.match(found, /ssh-ed25519/, 'ssh-keygen -F finds the hashed entry');
});

t.test('failure tolerance: a hung server (accepts, never answers) and a refused port give blips, then a give-up', async (t) => {
  const { createServer } = await import('node:net');
  const { EventWriter, lastEvents } = await import('@agent-runner/core/events');
  const { RemoteSource } = await import('../src/remote-source.js');
  const { HostPoller } = await import('../src/poller.js');
  const { MonitorEvents } = await import('../src/writes.js');
  const { DEFAULT_SETTINGS } = await import('../src/settings.js');
  const held: import('node:net').Socket[] = [];
  const hung = createServer((s) => held.push(s));
  await new Promise<void>((r) => hung.listen(0, '127.0.0.1', () => r()));
  const hungPort = (hung.address() as { port: number }).port;
  t.teardown(() => {
    for (const s of held) s.destroy();
    hung.close();
  });
  keygen('client_fail');
  const cfgFile = join(dir, 'fail_config');
  writeFileSync(
    cfgFile,
    `Host hung\n  HostName 127.0.0.1\n  Port ${hungPort}\n  IdentityFile ${join(dir, 'client_fail')}\nHost refused\n  HostName 127.0.0.1\n  Port 1\n  IdentityFile ${join(dir, 'client_fail')}\n`,
  );
  const ssh = { configFile: cfgFile, env, acceptNewHostKey: false, readyTimeoutMs: 800 };
  const evDir = join(dir, 'state', 'events');
  const events = new EventWriter({ dir: evDir, project: 'mon', unit: 'monitor' });
  const settings = { ...DEFAULT_SETTINGS, remote_failure_tolerance_s: 1.5 };
  const mk = (alias: string) =>
    new HostPoller(new RemoteSource({ alias, ssh, remoteCommand: 'agent-runner', timeoutMs: 800 }), {
      settings,
      events: new MonitorEvents(events, () => {}),
      now: Date.now,
      log: () => {},
    });
  for (const alias of ['hung', 'refused']) {
    const p = mk(alias);
    const t0 = Date.now();
    while (p.active && Date.now() - t0 < 15_000) {
      await p.cycle();
      await new Promise((r) => setTimeout(r, 200));
    }
    t.equal(p.link, 'gave_up', `${alias}: gave up`);
    const blips = lastEvents(evDir, { n: 50, kinds: ['monitor_remote_blip'] }).events.filter((e) => e['host'] === alias);
    t.ok(blips.length >= 2, `${alias}: ${blips.length} blips`);
    t.equal(
      blips[0]?.['exit_code'],
      alias === 'hung' ? null : 255,
      alias === 'hung' ? 'a hung session is a timeout (exit_code null)' : 'refused: ssh-level failure (255)',
    );
    t.match(
      lastEvents(evDir, { n: 5, kinds: ['monitor_remote_giveup'] }).events.find((e) => e['host'] === alias),
      { consecutive: blips.length },
    );
    p.source.close();
  }
  events.close();
});
