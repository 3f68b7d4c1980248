import { AgentRunnerError } from '@agent-runner/core/errors';

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * Parses `--since`: a duration ago (`90s`, `15m`, `1h`, `2d`, combinable as `1h30m`) or an
 * ISO-8601 time. Returns epoch ms.
 * @throws AgentRunnerError ERR_AR_USAGE naming the accepted forms.
 */
export function parseSince(text: string, nowMs: number): number {
  const t = text.trim();
  if (/^(\d+(\.\d+)?[smhd])+$/.test(t)) {
    let ms = 0;
    for (const m of t.matchAll(/(\d+(?:\.\d+)?)([smhd])/g)) ms += Number(m[1]) * (UNITS[m[2] as string] as number);
    return nowMs - ms;
  }
  const parsed = Date.parse(t);
  if (/^\d{4}-\d{2}-\d{2}/.test(t) && Number.isFinite(parsed)) return parsed;
  throw new AgentRunnerError('ERR_AR_USAGE', `--since ${JSON.stringify(text)} is neither a duration nor an ISO time`, {
    expected: 'a duration such as 30s, 15m, 1h, 2d, 1h30m, or an ISO time such as 2026-11-21T08:00:00Z',
    found: JSON.stringify(text),
  });
}
