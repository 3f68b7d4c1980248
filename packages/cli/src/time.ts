import { AgentRunnerError } from '@agent-runner/core/errors';

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** The longest `--since` duration, in days: the longest event retention (`runtime.events_retention_days` ≤ 3650). */
export const MAX_SINCE_DAYS = 3650;

const FORMS = `a duration such as 30s, 15m, 1h, 2d, 1h30m (at most ${MAX_SINCE_DAYS}d), or an ISO time such as 2026-11-21T08:00:00Z`;

/**
 * Parses `--since`: a duration ago (`90s`, `15m`, `1h`, `2d`, combinable as `1h30m`; at most
 * {@link MAX_SINCE_DAYS} days) or an ISO-8601 time. Returns epoch ms.
 * @throws AgentRunnerError ERR_AR_USAGE naming the value and the accepted forms.
 */
export function parseSince(text: string, nowMs: number): number {
  const t = text.trim();
  if (/^(\d+(\.\d+)?[smhd])+$/.test(t)) {
    let ms = 0;
    for (const m of t.matchAll(/(\d+(?:\.\d+)?)([smhd])/g)) ms += Number(m[1]) * (UNITS[m[2] as string] as number);
    // Beyond any event kept, and far enough would be no date at all (`new Date` throws past ±8.64e15 ms).
    if (!(ms <= MAX_SINCE_DAYS * UNITS['d']!)) {
      throw new AgentRunnerError(
        'ERR_AR_USAGE',
        `--since ${JSON.stringify(text)} is too large: expected a duration of at most ${MAX_SINCE_DAYS}d (the longest event retention), or an ISO time`,
        { key: 'since' },
      );
    }
    return nowMs - ms;
  }
  const parsed = Date.parse(t);
  if (/^\d{4}-\d{2}-\d{2}/.test(t) && Number.isFinite(parsed)) return parsed;
  throw new AgentRunnerError('ERR_AR_USAGE', `--since ${JSON.stringify(text)} is neither a duration nor an ISO time: expected ${FORMS}`, {
    key: 'since',
  });
}
