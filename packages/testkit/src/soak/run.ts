/**
 * One soak, end to end: receivers up, a fresh systemd sandbox, the fake CLI and both projects
 * installed with the checkout's CLI, the seeded schedule played, the units stopped, the facts
 * collected and assessed. The sandbox and the receivers are gone when it returns or throws.
 */
import { join } from 'node:path';
import { sleep } from '@agent-runner/core/sleep';
import { startReceiver } from '../receivers.js';
import { assess, type Assessment, type Facts } from './assess.js';
import { dumpLedger, gitFacts, projectFacts, unitJournals } from './collect.js';
import { Soak, type SoakRun } from './driver.js';
import { Sandbox } from './sandbox.js';
import { makeSchedule, type Schedule, type SoakProfile } from './schedule.js';
import { unitStates } from './probe.js';
import { installFakeClaude, must, setupProject, type SoakProject } from './setup.js';

/** The operator's chat for inbound commands: a Telegram Bot API (stub) on loopback. */
export interface SoakChat {
  apiUrl: string;
  token: string;
  chatId: number;
  /** The allowed sender. */
  userId: number;
  /** Delivers a message from the allowed sender in the chat (as a getUpdates update). */
  say(text: string): void;
}

/** What {@link runSoak} needs. */
export interface RunSoakOptions {
  seed: number;
  profile: SoakProfile;
  /** The checkout (bind-mounted into the sandbox at the same path; built with `npx tsc -b`). */
  repo: string;
  /** node on the host (the overlay of / gives the same inside). */
  node: string;
  chat: SoakChat;
  log: (line: string) => void;
  /** Told the sandbox once it is up (so a signal handler can stop it: it outlives a killed caller). */
  onSandbox?: (sb: Sandbox) => void;
}

/** What a soak found. */
export interface SoakOutcome {
  schedule: Schedule;
  run: SoakRun;
  facts: Facts;
  assessment: Assessment;
  /** journalctl of every unit, by unit name. */
  journals: Record<string, string>;
}

/**
 * Stops the projects' targets and waits for every unit to be down: a target's stop job ends
 * before its units' (a target is ordered After= the units it wants, so it stops first), and
 * `systemctl stop` returns with serve still finishing its round.
 */
async function stopAll(sb: Sandbox, projects: SoakProject[]): Promise<void> {
  must(await sb.sh(`systemctl stop ${projects.map((p) => p.units.target).join(' ')}`, 180_000), 'stopping the targets');
  const end = Date.now() + 180_000;
  for (;;) {
    const states = await Promise.all(projects.map((p) => unitStates(sb, p)));
    if (states.every((st) => Object.values(st).every((u) => u.active === 'inactive' || u.active === 'failed'))) return;
    if (Date.now() > end) throw new Error(`units still up 180 s after the stop: ${JSON.stringify(states)}`);
    await sleep(500);
  }
}

/** Runs the soak; throws only when the run could not happen at all (setup, warm-up). */
export async function runSoak(o: RunSoakOptions): Promise<SoakOutcome> {
  const schedule = makeSchedule(o.seed, o.profile);
  o.log(
    `soak ${o.profile.name}, seed ${o.seed}: ${schedule.episodes.length} faults (${schedule.episodes.map((e) => e.kind).join(', ')}), ${schedule.windows.length} receiver windows`,
  );
  const cli = join(o.repo, 'packages/cli/dist/bin.js');
  const dump = join(o.repo, 'packages/testkit/dist/soak/ledger-dump-bin.js');
  const webhook = await startReceiver('webhook');
  const ntfy = await startReceiver('ntfy');
  let sb: Sandbox | undefined;
  try {
    sb = await Sandbox.start([o.repo]);
    o.onSandbox?.(sb);
    await installFakeClaude(sb, o.node, join(o.repo, 'packages/testkit/dist/fake-claude-bin.js'));
    const soak = await setupProject({
      sandbox: sb,
      name: 'soak',
      node: o.node,
      cli,
      stateTmpfsMiB: o.profile.stateFsMiB,
      settings: o.profile.settings,
      notify: {
        webhook: `${webhook.url}/hook/soak`,
        ntfyServer: ntfy.url,
        ntfyTopic: 'soak-alarms',
        telegram: { apiUrl: o.chat.apiUrl, chatId: o.chat.chatId, userId: o.chat.userId },
      },
      secrets: { TELEGRAM_BOT_TOKEN: o.chat.token },
    });
    const calm = await setupProject({
      sandbox: sb,
      name: 'calm',
      node: o.node,
      cli,
      settings: o.profile.settings,
      notify: { webhook: `${webhook.url}/hook/calm`, ntfyServer: ntfy.url, ntfyTopic: 'calm-alarms' },
    });
    o.log(`sandbox pid ${sb.pid}: ${soak.units.target} and ${calm.units.target} started`);
    const box = sb;
    const undelivered = async (): Promise<number> => {
      let n = 0;
      for (const p of [soak, calm])
        n += (await dumpLedger(box, p, o.node, dump)).outbox.filter((r) => r.status === 'pending' || r.status === 'sending').length;
      return n;
    };
    const driver = new Soak({
      sandbox: sb,
      soak,
      calm,
      webhook,
      ntfy,
      chat: o.chat,
      schedule,
      profile: o.profile,
      node: o.node,
      cli,
      undelivered,
      log: o.log,
    });
    const run = await driver.run();
    await stopAll(sb, [soak, calm]);
    driver.refresh();
    const facts: Facts = {
      soak: await projectFacts(sb, soak, o.node, dump),
      calm: await projectFacts(sb, calm, o.node, dump),
      git: await gitFacts(sb, soak, run.journal, run.events[soak.name] ?? []),
      names: { soak: soak.name, calm: calm.name },
    };
    const journals = { ...(await unitJournals(sb, soak)), ...(await unitJournals(sb, calm, 50)) };
    return { schedule, run, facts, assessment: assess(run, facts), journals };
  } finally {
    sb?.stop();
    await webhook.close();
    await ntfy.close();
  }
}
