/**
 * Host key verification against OpenSSH `known_hosts` files (format in sshd(8), "SSH_KNOWN_HOSTS
 * FILE FORMAT"): `[@marker] patterns keytype base64-key [comment]`, patterns comma-separated
 * with `*`/`?`/`!`, a non-22 port written `[host]:port`, and hashed entries `|1|salt|hash`
 * where hash = HMAC-SHA1(key = salt, data = host name as it would be written).
 */
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { appendFileSync, chmodSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { hostMatches } from './ssh-config.js';

/** Result of {@link checkHostKey}. */
export interface HostKeyCheck {
  /**
   * `match`: a line for this host has this key. `mismatch`: lines for this host exist, none
   * has this key (possible man-in-the-middle). `revoked`: the key is marked `@revoked`.
   * `unknown`: no line for this host.
   */
  verdict: 'match' | 'mismatch' | 'revoked' | 'unknown';
  /** Where the matching (or the first conflicting) line is: `file:line`. */
  where: string | undefined;
  /** Key types known for the host (to prefer them in the handshake). */
  knownTypes: string[];
}

/** The host name as known_hosts writes it: `host`, or `[host]:port` off port 22. */
export function knownHostName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

/** The key type named inside an SSH public key blob (its first length-prefixed string). */
export function keyTypeOf(blob: Buffer): string {
  if (blob.length < 4) return 'unknown';
  const n = blob.readUInt32BE(0);
  return blob.subarray(4, 4 + n).toString('latin1');
}

/** OpenSSH's fingerprint: `SHA256:` + unpadded base64 of the blob's SHA-256. */
export function fingerprint(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

function hashedMatches(entry: string, name: string): boolean {
  const parts = entry.split('|');
  if (parts.length !== 4 || parts[1] !== '1') return false;
  const salt = Buffer.from(parts[2] as string, 'base64');
  const want = createHmac('sha1', salt).update(name).digest('base64');
  return want === parts[3];
}

function patternsMatch(field: string, name: string): boolean {
  if (field.startsWith('|')) return hashedMatches(field, name);
  return hostMatches(field.split(','), name);
}

/**
 * Looks up `host`:`port` with key `blob` in the given files (missing files are skipped).
 * `@cert-authority` lines are ignored (the monitor does not do host certificates).
 */
export function checkHostKey(files: readonly string[], host: string, port: number, blob: Buffer): HostKeyCheck {
  const name = knownHostName(host, port);
  const b64 = blob.toString('base64');
  let conflict: string | undefined;
  let match: string | undefined;
  const knownTypes = new Set<string>();
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      // a known_hosts file that does not exist or cannot be read: the others still count
      continue;
    }
    const lines = text.split('\n');
    for (let i = 0; i < lines.length; i++) {
      const line = (lines[i] as string).trim();
      if (!line || line.startsWith('#')) continue;
      let f = line.split(/\s+/);
      let marker: string | undefined;
      if (f[0]?.startsWith('@')) {
        marker = f[0];
        f = f.slice(1);
      }
      if (f.length < 3 || !patternsMatch(f[0] as string, name)) continue;
      const where = `${file}:${i + 1}`;
      if (marker === '@revoked') {
        if (f[2] === b64) return { verdict: 'revoked', where, knownTypes: [...knownTypes] };
        continue;
      }
      if (marker !== undefined) continue;
      knownTypes.add(f[1] as string);
      if (f[2] === b64) match ??= where;
      else conflict ??= where;
    }
  }
  if (match) return { verdict: 'match', where: match, knownTypes: [...knownTypes] };
  return { verdict: conflict ? 'mismatch' : 'unknown', where: conflict, knownTypes: [...knownTypes] };
}

/** Appends a line for a newly accepted host key (the directory 0700, the file 0600), hashed as `HashKnownHosts yes` does. */
export function appendKnownHost(file: string, host: string, port: number, blob: Buffer): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const salt = randomBytes(20);
  const hash = createHmac('sha1', salt).update(knownHostName(host, port)).digest('base64');
  const fresh = !existsSync(file);
  appendFileSync(file, `|1|${salt.toString('base64')}|${hash} ${keyTypeOf(blob)} ${blob.toString('base64')}\n`, { mode: 0o600 });
  if (fresh) chmodSync(file, 0o600);
}
