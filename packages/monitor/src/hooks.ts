/**
 * `detector` hooks (`[hooks.NAME] on = "detector"`): operator commands run on every poll of
 * the local project, next to the built-in detectors. Each answered alert becomes a finding
 * named `hook:<hook>:<key>` and goes through the same alert sink — raised once, refreshed while
 * answered, cleared (and its recovery notified) when a poll no longer answers it. A hook that
 * fails (exit, signal, timeout, garbage) changes nothing: its alerts stay as they were, the
 * failure is a `hook_failed` event and one journal line per episode, and the poll goes on.
 *
 * The hooks of one poll run in parallel, so a poll waits at most for the slowest hook's
 * `timeout_s` (plus the kill grace); a hook whose run outlives even that (something escaped its
 * process group and holds its pipes) is not started again until that run has ended.
 */
import { createHash } from 'node:crypto';
import type { AgentRunnerConfig, HookConfig } from '@agent-runner/core/config';
import { configPaths } from '@agent-runner/core/config';
import type { EventWriter } from '@agent-runner/core/events';
import { buildHookInput, RoundOutcomeReader } from '@agent-runner/core/hook-input';
import { hookEnv, runHook, type HookAlert, type HookResult } from '@agent-runner/core/hooks';
import type { KillFn } from '@agent-runner/core/identity';
import type { Ledger, Severity } from '@agent-runner/core/ledger';
import { redactText } from '@agent-runner/core/redact';
import type { LogPriority } from '@agent-runner/core/unit';
import type { Finding } from './detectors.js';

/** Detector names of hook alerts start with this (the alert's cause, as `peek` shows it). */
export const HOOK_DETECTOR_PREFIX = 'hook:';

/** How long past `timeout_s` a poll waits for a hook whose group was killed (SIGKILL follows SIGTERM 2 s later). */
const DEADLINE_SLACK_MS = 5000;

const KEY_RE = /^[A-Za-z0-9_.:-]{1,64}$/;

/**
 * The alert's detector name: `hook:<hook>:<key>`. A key as the answer format allows it
 * (`A-Z a-z 0-9 _ . : -`, at most 64) is kept; a default key (the title, any text) becomes a
 * slug of it plus 8 hex digits of its SHA-256, so two titles never share one alert and the
 * name stays short, printable and free of spaces (ledger, events, metrics labels, outbox kind).
 */
export function hookDetectorName(hook: string, key: string): string {
  if (KEY_RE.test(key)) return `${HOOK_DETECTOR_PREFIX}${hook}:${key}`;
  const slug =
    key
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, 40) || 'alert';
  return `${HOOK_DETECTOR_PREFIX}${hook}:${slug}-${createHash('sha256').update(key).digest('hex').slice(0, 8)}`;
}

/** The hook a detector name belongs to, or undefined for a built-in detector. */
export function hookOfDetector(detector: string): string | undefined {
  if (!detector.startsWith(HOOK_DETECTOR_PREFIX)) return undefined;
  const rest = detector.slice(HOOK_DETECTOR_PREFIX.length);
  const cut = rest.indexOf(':');
  return cut > 0 ? rest.slice(0, cut) : undefined;
}

const fixOf = (hook: string): string =>
  `See what the detector hook \`${hook}\` checks ([hooks.${hook}]); \`agent-runner hooks test ${hook}\` shows what it answers now.`;

/** The finding of one answered alert. */
export function hookFinding(hook: string, a: HookAlert): Finding {
  const body = redactText(a.body);
  return {
    detector: hookDetectorName(hook, a.key),
    severity: a.severity,
    policy: 'notify',
    message: a.title,
    evidence: { hook, key: a.key, ...(body ? { body } : {}) },
    fix: fixOf(hook),
    benign: false,
    coveredBy: [],
    ...(body ? { detail: body } : {}),
  };
}

/**
 * The finding of a hook alert a previous monitor left active (its ledger row), so the sink
 * adopts it — refreshed, kept or cleared like one this monitor raised — instead of raising it
 * twice; undefined for a row that is no hook alert.
 */
export function adoptedHookFinding(row: { detector: string; severity: Severity; message: string; evidence: unknown }): Finding | undefined {
  const hook = hookOfDetector(row.detector);
  if (hook === undefined) return undefined;
  const evidence = (typeof row.evidence === 'object' && row.evidence !== null ? row.evidence : {}) as Record<string, unknown>;
  const body = typeof evidence['body'] === 'string' ? evidence['body'] : '';
  const { notified: _notified, ...rest } = evidence;
  return {
    detector: row.detector,
    severity: row.severity,
    policy: 'notify',
    message: row.message,
    evidence: rest,
    fix: fixOf(hook),
    benign: false,
    coveredBy: [],
    ...(body ? { detail: body } : {}),
  };
}

/** What one poll's hooks found. */
export interface HookPoll {
  /** The alerts answered now. */
  findings: Finding[];
  /** Hooks that failed this poll: their alerts stay as they are (neither refreshed nor cleared). */
  failed: ReadonlySet<string>;
  /** The last answered alerts of the failed hooks (shown as still active). */
  kept: Finding[];
}

/** Dependencies of {@link DetectorHooks}. */
export interface DetectorHooksDeps {
  cfg: AgentRunnerConfig;
  /** The project's ledger (rounds for the input). */
  ledger: Ledger;
  /** The monitor's event writer: `hook_started`, `hook_finished`, `hook_failed` (unit `monitor`). */
  events: EventWriter | undefined;
  /** The monitor's environment; the hooks get {@link hookEnv} of it plus `[agent.env]`. */
  env: Record<string, string | undefined>;
  kill: KillFn;
  now: () => number;
  log: (priority: LogPriority, line: string) => void;
}

/** An event writer whose failures are logged (once per episode), never thrown into a hook's callbacks. */
function guarded(writer: EventWriter, log: DetectorHooksDeps['log']): EventWriter {
  let failing = false;
  return new Proxy(writer, {
    get(target, prop) {
      if (prop !== 'emit') return Reflect.get(target, prop, target) as unknown;
      return (...args: Parameters<EventWriter['emit']>) => {
        try {
          const r = target.emit(...args);
          failing = false;
          return r;
        } catch (e) {
          if (!failing)
            log('warning', `monitor: event ${String(args[0])} not written (${(e as Error).message}); later events are tried again`);
          failing = true;
          return undefined;
        }
      };
    },
  });
}

/** The enabled `detector` hooks of the local project, run once per poll. */
export class DetectorHooks {
  readonly hooks: readonly HookConfig[];
  private readonly outcomes: RoundOutcomeReader;
  private readonly events: EventWriter | undefined;
  private readonly paths: ReturnType<typeof configPaths>;
  /** Runs that outlived their deadline, by hook: not started again until they end. */
  private readonly stuck = new Map<string, Promise<HookResult>>();
  /** The last alerts each hook answered. */
  private readonly last = new Map<string, Finding[]>();
  /** Hooks whose failure was logged (one journal line per failure episode). */
  private readonly failing = new Set<string>();

  constructor(private readonly deps: DetectorHooksDeps) {
    this.hooks = deps.cfg.hooks.filter((h) => h.on === 'detector' && h.enabled);
    this.paths = configPaths(deps.cfg);
    this.outcomes = new RoundOutcomeReader(this.paths.eventsDir, deps.now);
    this.events = deps.events ? guarded(deps.events, deps.log) : undefined;
  }

  /** Runs every hook once, in parallel; never throws, never waits past the slowest hook's deadline. */
  async run(): Promise<HookPoll> {
    const findings: Finding[] = [];
    const failed = new Set<string>();
    const kept: Finding[] = [];
    if (!this.hooks.length) return { findings, failed, kept };
    let base;
    try {
      base = buildHookInput(this.hooks[0] as HookConfig, {
        cfg: this.deps.cfg,
        paths: this.paths,
        rounds: this.deps.ledger.runner,
        outcomes: this.outcomes,
      });
    } catch (e) {
      // The ledger is unreadable right now: no input, so no hook runs; their alerts stay.
      this.deps.log('warning', `monitor: detector hooks not run (the hook input cannot be read: ${redactText((e as Error).message)})`);
      for (const h of this.hooks) {
        failed.add(h.name);
        kept.push(...(this.last.get(h.name) ?? []));
      }
      return { findings, failed, kept };
    }
    const results = await Promise.all(this.hooks.map((h) => this.runOne(h, { ...base, hook: h.name })));
    this.hooks.forEach((h, i) => {
      const r = results[i] as HookResult | undefined;
      if (!r?.ok) {
        failed.add(h.name);
        kept.push(...(this.last.get(h.name) ?? []));
        if (r && !this.failing.has(h.name)) this.deps.log('warning', `monitor: ${r.message}; its alerts stay as they are`);
        if (r) this.failing.add(h.name);
        return;
      }
      if (this.failing.delete(h.name)) this.deps.log('notice', `monitor: detector hook ${h.name} answers again`);
      const seen = new Set<string>();
      const mine: Finding[] = [];
      for (const a of r.answer.alerts ?? []) {
        const f = hookFinding(h.name, a);
        if (seen.has(f.detector)) continue; // the same key twice: the first answer stands
        seen.add(f.detector);
        mine.push(f);
      }
      this.last.set(h.name, mine);
      findings.push(...mine);
    });
    return { findings, failed, kept };
  }

  /** One hook's run, or undefined while an earlier run of it is still stuck. */
  private async runOne(h: HookConfig, input: ReturnType<typeof buildHookInput>): Promise<HookResult | undefined> {
    if (this.stuck.has(h.name)) return undefined;
    const env = hookEnv({ ...this.deps.env, ...this.deps.cfg.agent.env }, h, input);
    const started = this.deps.now();
    const run = runHook(h, input, {
      cwd: this.deps.cfg.runtime.work_dir,
      env,
      kill: this.deps.kill,
      now: this.deps.now,
      ...(this.events ? { events: this.events } : {}),
    }).catch((e: unknown): HookResult => ({
      ok: false,
      reason: 'spawn',
      message: redactText(`hook ${h.name}: cannot run: ${(e as Error).message}`).slice(0, 500),
      exitCode: null,
      signal: null,
      durationMs: this.deps.now() - started,
      pid: null,
      stderrTail: '',
    }));
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'deadline'>((resolve) => {
      timer = setTimeout(() => resolve('deadline'), h.timeout_s * 1000 + DEADLINE_SLACK_MS);
    });
    const r = await Promise.race([run, deadline]);
    clearTimeout(timer);
    if (r !== 'deadline') return r;
    this.stuck.set(h.name, run);
    void run.then(() => this.stuck.delete(h.name));
    this.deps.log(
      'warning',
      `monitor: detector hook ${h.name} has not ended ${h.timeout_s + DEADLINE_SLACK_MS / 1000} s after it started (a process outside its group holds its output open); polling on without it`,
    );
    this.failing.add(h.name);
    return undefined;
  }
}
