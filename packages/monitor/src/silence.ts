/**
 * The dead-man check behind the `silence` alarm (core/alarms): the failure every exit status
 * hides — a loop whose rounds all exit 0 having done nothing (a peer's stayed silent for 23
 * days under systemd). Silent = no productive round (an `ok` round that reported a result or
 * committed or stashed work, see window.ts) for `monitor.silence_after_s` (6 h: several
 * normal rounds plus a long back-off) while the runner says it runs rounds. The clock does not
 * run while the runner was stopped on purpose or holds rounds by itself (those have their own
 * alarms), and heal restarts do not reset it.
 */
import type { AlarmFacts } from '@agent-runner/core/alarms';
import { runnerPause } from './detectors.js';
import type { MonitorSettings } from './settings.js';
import type { HostSnapshot } from './snapshot.js';
import type { EventWindow } from './window.js';

/**
 * The silence alarm's facts when the host is silent at `nowMs`, else undefined.
 * Facts: `silent_s` (seconds), `since` (ISO-8601), `rounds` (finished since), `state`.
 */
export function silenceFacts(
  s: HostSnapshot | undefined,
  w: EventWindow,
  settings: MonitorSettings,
  nowMs: number,
): AlarmFacts | undefined {
  if (settings.silence_after_s <= 0 || !s || s.service.state !== 'running' || runnerPause(s, w) !== null) return undefined;
  const since = Math.max(w.lastProductiveMs ?? -Infinity, w.runStartMs ?? -Infinity);
  const fromMs = Number.isFinite(since) ? since : w.sinceMs;
  const silentS = (nowMs - fromMs) / 1000;
  if (silentS < settings.silence_after_s) return undefined;
  return { silent_s: Math.round(silentS), since: new Date(fromMs).toISOString(), rounds: w.roundsSinceProductive, state: 'running' };
}
