import { readFileSync } from 'node:fs';

/**
 * The agent-runner version, read from the core package's package.json. All packages of one
 * install share one version; enrollment records and version stamps carry it so the watchdog
 * can tell a unit running old code after an upgrade.
 */
export const VERSION: string = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string })
  .version;

/**
 * Compares two `MAJOR.MINOR.PATCH[-pre]` versions numerically.
 * @returns negative when a < b, 0 when equal, positive when a > b. A pre-release sorts before
 * its release; pre-release tags compare as strings.
 */
export function compareVersions(a: string, b: string): number {
  const split = (v: string): [number[], string] => {
    const [core = '', pre = ''] = v.replace(/^v/, '').split('-', 2);
    return [core.split('.').map((n) => Number.parseInt(n, 10) || 0), pre];
  };
  const [ac, ap] = split(a);
  const [bc, bp] = split(b);
  for (let i = 0; i < 3; i++) {
    const d = (ac[i] ?? 0) - (bc[i] ?? 0);
    if (d !== 0) return d;
  }
  if (ap === bp) return 0;
  if (ap === '') return 1;
  if (bp === '') return -1;
  return ap < bp ? -1 : 1;
}
