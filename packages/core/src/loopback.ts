import { isIP } from 'node:net';

/** True for an IP literal in 127.0.0.0/8, `::1`, or an IPv4-mapped `::ffff:127.x.x.x`. */
export function isLoopbackAddress(ip: string): boolean {
  const v4 = /^(?:::ffff:)?(\d+\.\d+\.\d+\.\d+)$/i.exec(ip)?.[1];
  if (v4) return isIP(v4) === 4 && v4.startsWith('127.');
  // Written-out forms of ::1 (0:0:0:0:0:0:0:1) normalise through URL.
  return isIP(ip) === 6 && new URL(`http://[${ip}]/`).hostname === '[::1]';
}

/**
 * True when a `Host` header's name (port already removed; IPv6 in brackets) addresses this
 * machine's loopback: `localhost` or a name under it (RFC 6761 reserves `.localhost`), or a
 * loopback literal. A page reached under any other name came through someone's DNS.
 */
export function isLoopbackHostname(name: string): boolean {
  const n = name.toLowerCase().replace(/\.$/, '');
  if (n === 'localhost' || n.endsWith('.localhost')) return true;
  return isLoopbackAddress(n.replace(/^\[(.*)\]$/, '$1'));
}
