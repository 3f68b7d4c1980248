import { lastExitText, type PeekSnapshot } from '@agent-runner/core/peek';
import { table } from './table.js';

const n = (v: number | null | undefined, unit = ''): string => (v === null || v === undefined ? '-' : `${v}${unit}`);

/**
 * Renders a peek snapshot for humans as lines, its tables (rounds, hooks) fitted to `width`
 * columns when given (the terminal's); used by `peek` and `watch`.
 */
export function renderPeek(p: PeekSnapshot, width?: number): string[] {
  const lines = peekStatus(p);
  const rounds = p.rounds.map((r) => [
    String(r.round),
    r.phase ?? '-',
    r.status,
    r.classification ?? '-',
    r.signal ?? n(r.exit_code),
    n(r.duration_s, 's'),
    r.cost_usd === null ? '-' : `$${r.cost_usd.toFixed(4)}`,
    r.started_at,
  ]);
  lines.push(
    '',
    ...table(rounds, { head: ['round', 'phase', 'status', 'class', 'exit', 'duration', 'cost', 'started'], right: [0, 4, 5], width }),
  );
  if (p.rounds.length === 0) lines.push('  (no rounds yet)');
  return [...lines, ...peekDetails(p, width)];
}

/** The state lines of a snapshot (service, pause, alarms, the running round, today), the head of `peek` and `watch`; `stamped: false` leaves the snapshot's time out of the first. */
export function peekStatus(p: PeekSnapshot, opts: { stamped?: boolean } = {}): string[] {
  const s = p.service;
  const lines = [
    `project ${p.project}  ${s.state.toUpperCase()}${s.pid ? ` pid ${s.pid}` : ''}${s.activity ? ` (${s.activity})` : ''}${s.version ? `  v${s.version}` : ''}${opts.stamped === false ? '' : `  at ${p.generated_at}`}`,
  ];
  if (s.state === 'stopped' && s.last_exit !== undefined) lines.push(`last exit: ${lastExitText(s.last_exit)}`);
  if (s.heartbeat_age_s !== null) lines.push(`heartbeat ${s.heartbeat_age_s}s ago${s.started_at ? `, up since ${s.started_at}` : ''}`);
  if (s.pause)
    lines.push(
      `PAUSED (${s.pause}): no round starts until it clears${s.pause === 'operator' ? ' (`/resume` or the pause ends)' : ' by itself'}`,
    );
  for (const a of p.alarms)
    lines.push(`ALARM ${a.cause}${a.subject ? ` (${a.subject})` : ''} [${a.severity}] since ${a.raised_at}, raised by the ${a.raised_by}`);
  if (s.stop_requested) lines.push('stop requested: serve exits after the current round');
  if (s.agent_done) lines.push(`agent done: ${s.agent_done}`);
  if (p.current_round)
    lines.push(
      `round ${p.current_round.round}${p.current_round.phase ? ` (${p.current_round.phase})` : ''} running for ${p.current_round.elapsed_s}s  log ${p.current_round.log_file ?? '-'}`,
    );
  if (p.backoff) lines.push(`backing off after ${p.backoff.class} until ${p.backoff.until}`);
  if (p.rate_limit)
    lines.push(
      `rate limited (${p.rate_limit.account}) until ${p.rate_limit.throttled_until}${p.rate_limit.reset_at ? `, resets ${p.rate_limit.reset_at}` : ''}`,
    );
  const counts =
    Object.entries(p.counts_24h)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ') || 'none';
  lines.push(`last 24h: ${counts}`);
  lines.push(
    `today: ${p.today.rounds} round(s), ${p.today.input_tokens} in / ${p.today.output_tokens} out tokens, $${p.today.cost_usd.toFixed(4)}`,
  );
  return lines;
}

/** What `peek` shows below its rounds: orphan stashes, hooks, system, recent events. */
function peekDetails(p: PeekSnapshot, width: number | undefined): string[] {
  const lines: string[] = [];
  if (p.orphan_stashes.length) {
    lines.push('', 'orphan stashes (salvage with `git stash show -p SHA`, `git stash pop SHA`):');
    for (const st of p.orphan_stashes) lines.push(`  ${st.sha}  round ${st.round}  ${st.created_at}`);
  }
  if (p.hooks?.length) {
    const hooks = p.hooks.map((h) => {
      const l = h.last;
      const how = !l
        ? 'never ran'
        : l.outcome === 'ok'
          ? `ok in ${l.duration_s}s at ${l.at}`
          : `FAILED (${l.reason ?? '?'}) in ${l.duration_s}s at ${l.at}${l.message ? `: ${l.message}` : ''}`;
      return [h.name, h.on, `${h.enabled ? '' : '(disabled) '}${how}`];
    });
    lines.push('', 'hooks:', ...table(hooks, { indent: 2, width }));
  }
  const d = p.system.disk;
  const m = p.system.memory;
  lines.push(
    '',
    `disk ${d ? `${(d.free_bytes / 2 ** 30).toFixed(1)} GiB free (${d.used_pct}% used)` : '-'}  memory ${m ? `${(m.available_bytes / 2 ** 20).toFixed(0)} MiB available of ${(m.total_bytes / 2 ** 20).toFixed(0)}` : '-'}  agent processes ${p.system.agent_process_count}`,
  );
  if (p.recent_events.length) {
    lines.push('', 'recent events:');
    for (const e of p.recent_events.slice(-8)) lines.push(`  ${e.ts}  ${e.kind}${e.round !== undefined ? ` round=${e.round}` : ''}`);
  }
  return lines;
}
