#!/usr/bin/env node
// A small stand-in for a coding agent, so the demo runs with no accounts: it reads the prompt
// on stdin, really edits files and commits in its git work tree, and — depending on the round
// number agent-runner passes in AGENT_RUNNER_ROUND — sometimes leaves the tree dirty for
// agent-runner's git hygiene to stash, and sometimes fails the way real agents do.
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

const round = Number(process.env.AGENT_RUNNER_ROUND ?? '1');
const phase = process.env.AGENT_RUNNER_PHASE || 'work';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const git = (...args) => execFileSync('git', args, { encoding: 'utf8' }).trim();

let prompt = '';
for await (const chunk of process.stdin) prompt += chunk;
console.log(`demo-agent: round ${round} (${phase}), prompt of ${prompt.length} bytes`);
const pace = Number(process.env.DEMO_AGENT_PACE_MS ?? '300');

await sleep(pace);
console.log('demo-agent: reading NOTES.md');
await sleep(pace);

if (round % 5 === 4) {
  console.error('demo-agent: error: the model returned an unparseable answer; giving up this round');
  process.exit(2);
}

mkdirSync('src', { recursive: true });
const file = join('src', `step-${round}.txt`);
writeFileSync(file, `step ${round}: written by demo-agent in phase ${phase}\n`);
appendFileSync('NOTES.md', `- round ${round}: wrote ${file}\n`);
console.log(`demo-agent: wrote ${file}`);
await sleep(pace);

if (round % 3 === 2) {
  console.log('demo-agent: forgot to commit (agent-runner will stash this)');
} else {
  git('add', '-A');
  git('-c', 'user.name=demo-agent', '-c', 'user.email=demo-agent@localhost', 'commit', '-q', '-m', `demo-agent: step ${round}`);
  console.log(`demo-agent: committed ${git('rev-parse', '--short', 'HEAD')}`);
}
if (process.env.DEMO_AGENT_DONE_AFTER && round >= Number(process.env.DEMO_AGENT_DONE_AFTER)) {
  writeFileSync(join(process.env.AGENT_RUNNER_LOG_DIR, '.agent-done'), `demo finished after ${round} rounds\n`);
}
console.log(`RESULT: round ${round} done`);
