// One whole round (runRound) of a real agent script in a real git work tree, with a real
// ledger and event store: what it records about the agent's process group, how it turns the
// supervisor's notices into events, and that a full disk under the round log or the event
// store does not cost the round.
import t, { type Test } from 'tap';
import { mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { configPaths, parseConfig } from '@agent-runner/core/config';
import { EventWriter } from '@agent-runner/core/events';
import { parseProcStat } from '@agent-runner/core/identity';
import { openLedger } from '@agent-runner/core/ledger';
import { adapterFor } from '../src/adapters/index.js';
import type { AgentAdapter } from '../src/adapters/types.js';
import { runRound, type RoundDeps } from '../src/round.js';
import { roundLogName } from '../src/round-log.js';
import { tempProject } from '@agent-runner/testkit/project';
import { kill } from './fixtures/util.js';

const hasDevFull = statSync('/dev/full', { throwIfNoEntry: false }) !== undefined;
/** Rounds start at this instant (a whole second), so their log and event file names are known. */
const T0 = Date.UTC(2026, 0, 1, 0, 0, 0);

function project(t: Test, agentScript: string) {
  const p = tempProject('proj', {
    'agent.sh': `#!/bin/sh\n${agentScript}\n`,
    'PROMPT.md': 'Do the next step.\n',
    '.gitignore': '/.state/\n',
  });
  t.teardown(p.cleanup);
  const source = `[agent]
command = ["./agent.sh"]
prompt_delivery = "stdin"
[agent.patterns]
result = ["^RESULT"]
[prompt]
file = "PROMPT.md"
[runtime]
state_dir = ".state"
kill_grace_s = 1
max_grace_after_result_s = 0.3
`;
  const file = p.write('agent-runner.toml', source);
  const cfg = parseConfig(source, file, { env: { HOME: p.home }, mode: 'user' });
  const paths = configPaths(cfg);
  const ledger = openLedger(paths.ledgerPath);
  t.teardown(() => ledger.close());
  const journal: string[] = [];
  const events = new EventWriter({
    dir: paths.eventsDir,
    project: cfg.project,
    unit: 'runner',
    now: clock(),
    log: (p, l) => journal.push(`${p}: ${l}`),
  });
  t.teardown(() => events.close());
  const deps: RoundDeps = {
    cfg,
    paths,
    ledger,
    events,
    adapter: adapterFor(cfg),
    runner: { pid: process.pid, bootId: 'boot', starttimeTicks: 1, nonce: 'nonce' },
    env: { PATH: process.env['PATH'], HOME: p.home },
    killSignal: new AbortController().signal,
    now: clock(),
    kill,
    log: (priority, line) => journal.push(`${priority}: ${line}`),
  };
  const readEvents = (): Record<string, unknown>[] =>
    readdirSync(paths.eventsDir)
      .filter((f) => f.endsWith('.jsonl'))
      .flatMap((f) =>
        readFileSync(join(paths.eventsDir, f), 'utf8')
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l) as Record<string, unknown>),
      );
  return { p, cfg, paths, ledger, deps, journal, readEvents };
}

/** A clock at T0 that then runs at the real pace. */
function clock(): () => number {
  const start = Date.now();
  return () => T0 + (Date.now() - start);
}

t.test("the agent's process group and its leader's start time are in the round's row", async (t) => {
  const { paths, ledger, deps, journal } = project(t, 'cat > /dev/null\ncat /proc/$$/stat > "$AGENT_RUNNER_LOG_DIR/own-stat"\necho RESULT');
  const r = await runRound(deps, undefined);
  t.equal(r.verdict.class, 'ok', r.verdict.summary);
  const own = parseProcStat(readFileSync(join(paths.logDir, 'own-stat'), 'utf8'));
  const row = ledger.runner.getRound(r.round);
  t.equal(row?.agentPgid, own.pid, 'the leader pid (= pgid)');
  t.equal(own.pgid, own.pid, 'the agent leads its group');
  t.equal(row?.agentStarttimeTicks, own.starttimeTicks, "the leader's start time, as the agent's own /proc has it");
  t.same(journal, []);
});

t.test('supervisor notices become typed events: truncated line, classifier error, grace kill and its result', async (t) => {
  // A line over the 1 MiB cap, a line the classifier throws on, the result, then lingering.
  const { deps, ledger, journal, readEvents } = project(
    t,
    `cat > /dev/null\nhead -c 1100000 /dev/zero | tr '\\0' x; echo\necho BOOM\necho RESULT\nexec sleep 300`,
  );
  const generic = deps.adapter;
  const adapter: AgentAdapter = {
    ...generic,
    createClassifier: () => {
      const c = generic.createClassifier();
      return {
        line: (text, n) => {
          if (text === 'BOOM') throw new Error('boom');
          return c.line(text, n);
        },
        finish: (o) => c.finish(o),
      };
    },
  };
  const r = await runRound({ ...deps, adapter }, undefined);
  const evs = readEvents().filter((e) => e['round'] === r.round);
  t.same(
    evs.map((e) => e['kind']),
    ['round_start', 'round_line_truncated', 'classifier_error', 'round_grace_kill', 'round_kill_result', 'round_end'],
  );
  t.match(evs[1], { line: 1, max_length: 1024 * 1024 });
  t.match(evs[2], { line: 2, message: 'boom' });
  t.match(evs[4], { killed_by: 'grace', term_sent: true, kill_sent: false, survivors: [] });
  t.type(evs[4]?.['duration_s'], 'number');
  const end = evs.at(-1);
  t.match(end, { classification: 'ok', killed_by: 'grace', signal: 'SIGTERM' });
  t.match((end?.['evidence'] as unknown[]).at(-1), { source: 'supervisor', detail: /grace/ }, 'the grace kill is a detail of an ok round');
  t.equal(ledger.runner.getRound(r.round)?.classification, 'ok');
  t.same(journal, []);
});

t.test(
  'the round log on a full disk (ENOSPC): the round goes on, is ok, its output counted, one event; the next round logs again',
  { skip: !hasDevFull && 'no /dev/full' },
  async (t) => {
    const { paths, deps, ledger, journal, readEvents } = project(
      t,
      'cat > /dev/null\ni=0; while [ $i -lt 200 ]; do echo "line $i"; i=$((i+1)); done\necho RESULT',
    );
    mkdirSync(paths.roundsDir, { recursive: true });
    // The log's name is a link to /dev/full: every write fails with ENOSPC, as on a full disk.
    symlinkSync('/dev/full', join(paths.roundsDir, roundLogName(1, T0)));
    const r = await runRound(deps, undefined);
    t.equal(r.verdict.class, 'ok', r.verdict.summary);
    let expected = 'RESULT\n'.length;
    for (let i = 0; i < 200; i++) expected += `line ${i}\n`.length;
    t.equal(r.outcome.outputBytes, expected, 'every output byte is counted');
    const evs = readEvents().filter((e) => e['round'] === r.round);
    const errors = evs.filter((e) => e['kind'] === 'round_log_error');
    t.equal(errors.length, 1, 'one event for the failure');
    t.match(errors[0], { code: 'ENOSPC', message: /ENOSPC/ });
    t.ok((errors[0]?.['dropped_bytes'] as number) > 0);
    t.match(evs.at(-1), { kind: 'round_end', classification: 'ok', output_bytes: expected });
    t.equal(ledger.runner.getRound(r.round)?.outputBytes, expected);
    t.same(journal, []);

    const next = await runRound(deps, undefined);
    t.equal(next.verdict.class, 'ok');
    t.match(readFileSync(next.logFile, 'utf8'), /^line 0\n/, 'the next round has its log');
  },
);

t.test('a round log that cannot be created: the round goes on, output counted, one event', async (t) => {
  const { paths, deps, journal, readEvents } = project(t, 'cat > /dev/null\necho RESULT');
  mkdirSync(paths.logDir, { recursive: true });
  writeFileSync(paths.roundsDir, 'a file where the rounds directory belongs');
  const r = await runRound(deps, undefined);
  t.equal(r.verdict.class, 'ok');
  t.equal(r.outcome.outputBytes, 'RESULT\n'.length);
  const errors = readEvents().filter((e) => e['kind'] === 'round_log_error');
  t.equal(errors.length, 1);
  t.match(errors[0], { code: /^E[A-Z]+$/, dropped_bytes: 0 }, 'reported as the round starts, before any output');
  t.match(
    journal,
    [/^warning: round 1: round log retention failed/],
    "retention of an unlistable directory is a warning, not the round's end",
  );
});

t.test(
  'the event store on a full disk (ENOSPC): the round still runs and is ok; one journal warning',
  { skip: !hasDevFull && 'no /dev/full' },
  async (t) => {
    const { paths, deps, ledger, journal } = project(t, 'cat > /dev/null\necho RESULT');
    mkdirSync(paths.eventsDir, { recursive: true });
    symlinkSync('/dev/full', join(paths.eventsDir, 'events-2026-01-01.jsonl'));
    const r = await runRound(deps, undefined);
    t.equal(r.verdict.class, 'ok', 'not a config failure of the round');
    t.equal(ledger.runner.getRound(r.round)?.classification, 'ok');
    t.equal(journal.length, 1, journal.join('\n'));
    t.match(
      journal[0],
      /^warning: events not written to .*: the file system is full; dropping them until space is free \(first: round_start\)/,
      'the writer tells the drop once',
    );
  },
);
