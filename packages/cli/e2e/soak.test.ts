// The accelerated "leave it for a week" soak (issue 14): the whole suite installed with
// `agent-runner install --system --bridge --watchdog --monitor` under a real systemd 252
// (scripts/systemd-sandbox.sh), the fake Claude CLI replaying real stream-json, a seeded
// schedule of agent and infrastructure faults, webhook and ntfy receivers and a Telegram Bot
// API stub on loopback, and a fault-free control project alongside. The table at the end is
// issue 14's list of assertions; each row is one tap assertion.
//
//   SOAK_SEED=N          replay a schedule (default: a random seed, printed)
//   SOAK_PROFILE=long    ~10,000 rounds with 590 faults (bench/soak.mjs runs it unattended)
//   SOAK_MAX_WALL_S=S    a shorter cap on the fault phase: the schedule's first faults only,
//                        reported as abandoned (a partial long run)
//
// Run by scripts/ci/soak.sh (root; builds first: the fake CLI runs from packages/testkit/dist).
import t from 'tap';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CI_PROFILE, LONG_PROFILE } from '@agent-runner/testkit/soak/schedule';
import { runSoak } from '@agent-runner/testkit/soak/run';
import type { Sandbox } from '@agent-runner/testkit/soak/sandbox';
import { failureContext, renderFigures, renderTable } from '@agent-runner/testkit/soak/report';
import { telegramStub } from '../../bridge/test/stubs.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url)).replace(/\/$/, '');
const base = process.env['SOAK_PROFILE'] === 'long' ? LONG_PROFILE : CI_PROFILE;
const cap = Number(process.env['SOAK_MAX_WALL_S'] ?? 0);
const profile = cap > 0 ? { ...base, maxWallS: cap } : base;
const seed = Number(process.env['SOAK_SEED'] ?? Math.floor(Math.random() * 2 ** 31));
const TOKEN = '4242:soak-telegram-token';
const CHAT = 5;
const OPERATOR = 7;
const log = (line: string): void => {
  process.stderr.write(`# soak: ${line}\n`);
};

t.test(`soak (${profile.name} profile), seed ${seed}`, { timeout: (profile.maxWallS + 900) * 1000 }, async (t) => {
  const tg = await telegramStub(TOKEN);
  t.teardown(() => tg.close());
  // A soak stopped from outside (Ctrl-C, a CI timeout) must not leave its systemd behind.
  const onSandbox = (sb: Sandbox): void => {
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
      process.once(sig, () => {
        sb.stop();
        process.exit(130);
      });
    }
  };
  const outcome = await runSoak({
    seed,
    profile,
    repo: ROOT,
    node: process.execPath,
    log,
    onSandbox,
    chat: { apiUrl: tg.url, token: TOKEN, chatId: CHAT, userId: OPERATOR, say: (text) => tg.push({ from: OPERATOR, chat: CHAT, text }) },
  });
  const a = outcome.assessment;
  // The whole record, for a closer look and bench/README.md (.cache/ is not committed).
  const out = join(ROOT, '.cache', 'soak');
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, `${profile.name}-${seed}.json`), JSON.stringify(outcome));
  log(`record: ${join(out, `${profile.name}-${seed}.json`)}`);
  const interventions = outcome.run.actions.filter((x) => x.episode < 0).length;
  t.comment(`seed ${seed}\n${renderTable(a)}\n${renderFigures(a, interventions)}`);
  for (const r of a.rows) t.ok(r.pass, `${r.check}: ${r.actual}`);
  if (!a.pass) {
    t.comment(failureContext(a, outcome.run.events['soak'] ?? [], seed));
    for (const [unit, text] of Object.entries(outcome.journals)) t.comment(`journal of ${unit}:\n${text}`);
  }
});
