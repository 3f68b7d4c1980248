import t from 'tap';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { agentEnv, resolveExecutable, spawnAgent, type SpawnAgentOptions } from '../src/agent-process.js';
import { readArgv, readProcStat } from '@agent-runner/core/identity';
import { until } from '@agent-runner/testkit/until';
import { collect, fixture, reap } from './fixtures/util.js';

const tmp = mkdtempSync(join(tmpdir(), 'ar-agent-'));

function baseEnv(): Record<string, string> {
  return agentEnv(
    { ...process.env, NOTIFY_SOCKET: '/run/systemd/notify', AGENT_RUNNER_PHASE: 'stale' },
    {
      logDir: '/var/log/ar-test',
      round: 7,
      project: 'demo',
    },
  );
}

const promptTmp = join(tmp, 'prompt-tmp');
mkdirSync(promptTmp);

let seq = 0;
async function run(opts: Partial<SpawnAgentOptions> & Pick<SpawnAgentOptions, 'argv' | 'terminal'>, extra: Record<string, string> = {}) {
  const release = join(tmp, `release-${++seq}`);
  const copy = join(tmp, `stdin-${seq}`);
  const h = await spawnAgent({
    cwd: tmp,
    env: { ...baseEnv(), RELEASE_FILE: release, STDIN_COPY: copy, ...extra },
    delivery: { mode: 'stdin' },
    prompt: '',
    tmpDir: promptTmp,
    ...opts,
  });
  t.teardown(() => reap(h.pgid));
  const out = collect(h);
  return { h, out, release: () => writeFileSync(release, ''), copy };
}

for (const terminal of ['pipe', 'pty'] as const) {
  t.test(`${terminal}: stdout and stderr arrive merged, in order`, async (t) => {
    const { h, out } = await run({ argv: [fixture('order.sh')], terminal }, { ORDER_LINES: '60' });
    const ex = await h.exited;
    await h.closed;
    t.same(ex, { exitCode: 0, signal: null });
    const lines = out.text().split(/\r?\n/).filter(Boolean);
    const want: string[] = [];
    for (let i = 1; i <= 60; i++) want.push(`out ${i}`, `err ${i}`);
    t.same(lines, want);
  });

  t.test(`${terminal}: own session and process group (pgid = sid = pid in /proc)`, async (t) => {
    const { h, out, release } = await run({ argv: [fixture('report.sh')], terminal });
    await until('READY', () => out.text().includes('READY'));
    const st = readProcStat(h.pid);
    t.equal(h.pgid, h.pid);
    t.equal(st?.pgid, h.pid, 'pgrp == pid');
    t.equal(st?.sid, h.pid, 'session == pid');
    t.not(st?.pgid, readProcStat(process.pid)?.pgid, 'not in the test runner group');
    release();
    await h.exited;
  });

  t.test(`${terminal}: environment carries AGENT_RUNNER_* and withholds NOTIFY_SOCKET`, async (t) => {
    const { h, out, release } = await run({ argv: [fixture('report.sh')], terminal });
    release();
    await h.exited;
    t.match(out.text(), 'ENV ROUND=7 PHASE=unset PROJECT=demo LOGDIR=/var/log/ar-test NOTIFY=unset');
  });

  t.test(`${terminal}: argv delivery puts the prompt in /proc cmdline`, async (t) => {
    const prompt = 'fix the "bug" in $HOME; `rm -rf /` is not a plan\nsecond line ünïcode';
    const { h, out, release } = await run({
      argv: [fixture('report.sh'), '--print'],
      terminal,
      delivery: { mode: 'argv', template: ['-p', '{prompt}', '--tag=x{prompt}y'] },
      prompt,
    });
    await until('READY', () => out.text().includes('READY'));
    const argv = readArgv(h.pid);
    t.same(argv.slice(-4), ['--print', '-p', prompt, `--tag=x${prompt}y`], 'exact argv, no shell interpretation');
    t.match(out.text(), 'ARGC=4');
    t.equal(h.argv[0], fixture('report.sh'));
    release();
    t.same(await h.exited, { exitCode: 0, signal: null });
  });

  t.test(`${terminal}: stdin delivery keeps the prompt out of cmdline, bytes exact`, async (t) => {
    const prompt = `first line\nsecond ünïcode — line\n${'x'.repeat(300_000)}\nno newline at end ✓`;
    const { h, out, release, copy } = await run(
      { argv: [fixture('report.sh')], terminal, delivery: { mode: 'stdin' }, prompt },
      { READ_STDIN: '1' },
    );
    await until('READY', () => out.text().includes('READY'));
    t.notMatch(readArgv(h.pid).join(' '), 'first line');
    t.notMatch(readFileSync(`/proc/${h.pid}/cmdline`, 'utf8'), 'ünïcode');
    t.match(out.text(), `STDIN_BYTES=${Buffer.byteLength(prompt)}`);
    t.equal(readFileSync(copy, 'utf8'), prompt, 'agent read exactly the prompt');
    t.notMatch(out.text(), 'first line', 'prompt not echoed into the output');
    release();
    await h.exited;
    t.same(readdirSync(promptTmp), [], 'no prompt temp file left behind');
  });

  t.test(`${terminal}: exit codes and signals`, async (t) => {
    const a = await run({ argv: [fixture('report.sh')], terminal }, { EXIT_CODE: '3' });
    a.release();
    t.same(await a.h.exited, { exitCode: 3, signal: null });
    const b = await run({ argv: [fixture('silent.sh')], terminal });
    await until('hello', () => b.out.text().includes('hello'));
    process.kill(b.h.pid, 'SIGTERM');
    t.same(await b.h.exited, { exitCode: null, signal: 'SIGTERM' });
  });
}

// A shell read loop rather than cat: coreutils cat closes its terminal fds before it exits, and
// the hang-up that follows (node-pty closes the master on the EIO) can reach it in between and
// turn its exit 0 into SIGHUP (~1 % of runs under load).
const ECHO_LINES = ['sh', '-c', 'while IFS= read -r l; do printf "%s\\n" "$l"; done'];

t.test('pty stdin "type": typed into the terminal, echo off, then ^D', async (t) => {
  const prompt = 'line one\nline two ünïcode';
  const { h, out } = await run({ argv: ECHO_LINES, terminal: 'pty', ptyStdin: 'type', prompt });
  t.same(await h.exited, { exitCode: 0, signal: null }, 'the reader saw EOF');
  t.equal(out.text(), 'line one\r\nline two ünïcode\r\n', 'output once (no echo), newline added');
});

t.test('pty stdin "type" refuses what a terminal would mangle', async (t) => {
  const base = {
    argv: ['cat'],
    terminal: 'pty' as const,
    ptyStdin: 'type' as const,
    cwd: tmp,
    env: baseEnv(),
    delivery: { mode: 'stdin' as const },
  };
  await t.rejects(spawnAgent({ ...base, prompt: 'y'.repeat(5000) }), { code: 'ERR_AR_CONFIG_SEMANTIC', message: /4094 bytes/ });
  await t.rejects(spawnAgent({ ...base, prompt: 'stop\x03here' }), { code: 'ERR_AR_CONFIG_SEMANTIC', message: /control characters/ });
});

t.test('missing executable is a config error naming it', async (t) => {
  for (const terminal of ['pipe', 'pty'] as const) {
    await t.rejects(
      spawnAgent({ argv: ['no-such-agent-cli'], cwd: tmp, env: baseEnv(), delivery: { mode: 'stdin' }, prompt: 'x', terminal }),
      { code: 'ERR_AR_CONFIG_SEMANTIC', message: 'agent executable not found on PATH: no-such-agent-cli' },
    );
  }
  const notExec = join(tmp, 'not-executable');
  writeFileSync(notExec, '#!/bin/sh\n');
  chmodSync(notExec, 0o644);
  await t.rejects(spawnAgent({ argv: [notExec], cwd: tmp, env: baseEnv(), delivery: { mode: 'stdin' }, prompt: 'x', terminal: 'pipe' }), {
    code: 'ERR_AR_CONFIG_SEMANTIC',
  });
  await t.rejects(
    spawnAgent({ argv: ['sh'], cwd: join(tmp, 'nope'), env: baseEnv(), delivery: { mode: 'stdin' }, prompt: 'x', terminal: 'pipe' }),
    { code: 'ERR_AR_CONFIG_SEMANTIC', message: /work dir/ },
  );
});

t.test('argv delivery: a prompt over the Linux per-argument limit is refused up front', async (t) => {
  await t.rejects(
    spawnAgent({
      argv: ['echo'],
      cwd: tmp,
      env: baseEnv(),
      delivery: { mode: 'argv', template: ['{prompt}'] },
      prompt: 'z'.repeat(200_000),
      terminal: 'pipe',
    }),
    { code: 'ERR_AR_CONFIG_SEMANTIC', message: /131071 bytes per argument/ },
  );
});

t.test('resolveExecutable follows execvp rules', async (t) => {
  const bin = join(tmp, 'bin');
  mkdirSync(bin);
  writeFileSync(join(bin, 'tool'), '#!/bin/sh\n', { mode: 0o755 });
  t.equal(resolveExecutable('tool', `/nonexistent:${bin}`, tmp), join(bin, 'tool'));
  t.equal(resolveExecutable('./bin/tool', '', tmp), join(bin, 'tool'));
  t.equal(resolveExecutable('tool', '/usr/bin', tmp), undefined);
  t.equal(resolveExecutable('bin', `${tmp}`, tmp), undefined, 'a directory is not executable');
});

t.test('agentEnv', async (t) => {
  const e = agentEnv({ PATH: '/bin', DROP: undefined, WATCHDOG_USEC: '1' }, { logDir: '/l', round: 3, phase: 'diverge', project: 'p' });
  t.same(e, {
    PATH: '/bin',
    AGENT_RUNNER_LOG_DIR: '/l',
    AGENT_RUNNER_ROUND: '3',
    AGENT_RUNNER_PHASE: 'diverge',
    AGENT_RUNNER_PROJECT: 'p',
  });
});

for (const terminal of ['pipe', 'pty'] as const) {
  t.test(`${terminal}: the handle carries the leader's start time, as /proc has it`, async (t) => {
    const { h } = await run({ argv: [fixture('silent.sh')], terminal });
    t.equal(h.starttimeTicks, readProcStat(h.pid)?.starttimeTicks);
    t.ok(Number.isInteger(h.starttimeTicks) && (h.starttimeTicks ?? 0) > 0);
  });
}

t.test('pipe: an agent that exits at once still has its start time recorded', async (t) => {
  const { h } = await run({ argv: ['true'], terminal: 'pipe' });
  t.ok(Number.isInteger(h.starttimeTicks), `start time ${String(h.starttimeTicks)}`);
  await h.exited;
});
