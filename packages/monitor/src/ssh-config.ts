/**
 * A reader of OpenSSH client configuration (`~/.ssh/config`, format in ssh_config(5)) for the
 * keys the monitor needs: HostName, User, Port, IdentityFile, ProxyJump, UserKnownHostsFile,
 * StrictHostKeyChecking, ConnectTimeout. As in OpenSSH, the first value obtained for a key
 * wins (IdentityFile and UserKnownHostsFile accumulate), `Host` patterns take `*`, `?` and
 * `!negation`, and `Include` is followed (relative paths under `~/.ssh`, `*` globs in the
 * file name). `Match` blocks are not evaluated: their keys are skipped.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { basename, dirname, isAbsolute, join } from 'node:path';

/** The resolved settings for one alias. */
export interface SshHostConfig {
  /** The alias asked for. */
  alias: string;
  /** Host to connect to (HostName, `%h` expanded; the alias when unset). */
  hostName: string;
  /** Remote user (User; default the local user). */
  user: string;
  /** TCP port (Port; default 22). */
  port: number;
  /** Private key files, `~`/`%d`/`%u`/`%h`/`%r` expanded, in order (empty: the default keys). */
  identityFiles: string[];
  /** ProxyJump hops (`[user@]host[:port]`, each may be an alias), empty for none. */
  proxyJump: string[];
  /** known_hosts files (UserKnownHostsFile; default `~/.ssh/known_hosts`, `~/.ssh/known_hosts2`). */
  knownHostsFiles: string[];
  /** StrictHostKeyChecking as written (`yes`, `accept-new`, `no`, `ask`), when set. */
  strictHostKeyChecking: string | undefined;
  /** ConnectTimeout in seconds, when set. */
  connectTimeoutS: number | undefined;
}

/** Environment the expansion needs. */
export interface SshConfigEnv {
  /** Local home directory. */
  home: string;
  /** Local user name (default remote user). */
  user: string;
}

function words(rest: string): string[] {
  const out: string[] = [];
  const re = /"([^"]*)"|(\S+)/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(rest)) !== null) out.push(m[1] ?? (m[2] as string));
  return out;
}

function glob(pattern: string, text: string): boolean {
  const re = new RegExp(
    `^${pattern
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.')}$`,
    'i',
  );
  return re.test(text);
}

/** Whether a `Host` line's patterns match `alias` (any positive match, no negated match). */
export function hostMatches(patterns: readonly string[], alias: string): boolean {
  let hit = false;
  for (const p of patterns) {
    if (p.startsWith('!')) {
      if (glob(p.slice(1), alias)) return false;
    } else if (glob(p, alias)) hit = true;
  }
  return hit;
}

interface Line {
  key: string;
  args: string[];
}

function readLines(file: string, home: string, depth: number): Line[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    // no such config file (ENOENT) or unreadable: ssh(1) skips it as well
    return [];
  }
  const out: Line[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const m = /^(\S+?)(?:\s*=\s*|\s+)(.*)$/.exec(line);
    if (!m) continue;
    const key = (m[1] as string).toLowerCase();
    const args = words(m[2] as string);
    if (key === 'include' && depth < 8) {
      for (const a of args) {
        const p = a.startsWith('~/') ? join(home, a.slice(2)) : isAbsolute(a) ? a : join(home, '.ssh', a);
        for (const f of expandGlob(p)) out.push(...readLines(f, home, depth + 1));
      }
      continue;
    }
    out.push({ key, args });
  }
  return out;
}

function expandGlob(p: string): string[] {
  const name = basename(p);
  if (!/[*?]/.test(name)) return [p];
  try {
    return readdirSync(dirname(p))
      .filter((f) => glob(name, f))
      .sort()
      .map((f) => join(dirname(p), f));
  } catch {
    // the Include glob's directory does not exist: nothing included, as ssh(1) does
    return [];
  }
}

/**
 * Resolves `alias` against the config text of `file` (missing file: all defaults).
 * @param file usually `~/.ssh/config`.
 */
export function resolveSshHost(alias: string, file: string, env: SshConfigEnv): SshHostConfig {
  const lines = readLines(file, env.home, 0);
  const got = new Map<string, string[]>();
  const identity: string[] = [];
  const known: string[] = [];
  let applies = true;
  for (const { key, args } of lines) {
    if (key === 'host') {
      applies = hostMatches(args, alias);
      continue;
    }
    if (key === 'match') {
      applies = false;
      continue;
    }
    if (!applies || args.length === 0) continue;
    if (key === 'identityfile') identity.push(args[0] as string);
    else if (key === 'userknownhostsfile') known.push(...args);
    else if (!got.has(key)) got.set(key, args);
  }
  const first = (k: string): string | undefined => got.get(k)?.[0];
  const hostName = (first('hostname') ?? alias).replace(/%h/g, alias);
  const user = first('user') ?? env.user;
  const port = Number(first('port') ?? 22);
  const expand = (p: string): string => {
    let s = p
      .replace(/%%/g, '\0')
      .replace(/%d/g, env.home)
      .replace(/%u/g, env.user)
      .replace(/%h/g, hostName)
      .replace(/%r/g, user)
      .replace(/%n/g, alias);
    s = s.replace(/\0/g, '%');
    return s === '~' ? env.home : s.startsWith('~/') ? join(env.home, s.slice(2)) : s;
  };
  const jump = first('proxyjump');
  const timeout = first('connecttimeout');
  return {
    alias,
    hostName,
    user,
    port: Number.isInteger(port) && port > 0 && port < 65536 ? port : 22,
    identityFiles: identity.map(expand),
    proxyJump:
      jump && jump.toLowerCase() !== 'none'
        ? jump
            .split(',')
            .map((s) => s.trim())
            .filter(Boolean)
        : [],
    knownHostsFiles: known.length
      ? known.filter((k) => k.toLowerCase() !== 'none').map(expand)
      : [join(env.home, '.ssh', 'known_hosts'), join(env.home, '.ssh', 'known_hosts2')],
    strictHostKeyChecking: first('stricthostkeychecking')?.toLowerCase(),
    connectTimeoutS: timeout !== undefined && Number.isFinite(Number(timeout)) ? Number(timeout) : undefined,
  };
}

/** Splits a ProxyJump hop `[user@]host[:port]` (IPv6 in brackets). */
export function parseJump(hop: string): { user: string | undefined; host: string; port: number | undefined } {
  const at = hop.lastIndexOf('@');
  const user = at >= 0 ? hop.slice(0, at) : undefined;
  const rest = at >= 0 ? hop.slice(at + 1) : hop;
  const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(rest) ?? /^([^:]+)(?::(\d+))?$/.exec(rest);
  return { user, host: m?.[1] ?? rest, port: m?.[2] ? Number(m[2]) : undefined };
}
