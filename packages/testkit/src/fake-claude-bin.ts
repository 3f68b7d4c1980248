#!/usr/bin/env node
// The fake Claude Code CLI as a command (see fake-claude.ts): install it on PATH as `claude`.
import { fakeClaude } from './fake-claude.js';

const chunks: Buffer[] = [];
process.stdin.on('data', (c: Buffer) => chunks.push(c));
process.stdin.on('end', () => {
  void fakeClaude({
    argv: process.argv.slice(2),
    env: process.env,
    cwd: process.cwd(),
    pid: process.pid,
    stdin: Buffer.concat(chunks).toString('utf8'),
    out: (line) => process.stdout.write(`${line}\n`),
    err: (text) => process.stderr.write(text),
    sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
    now: Date.now,
  }).then((code) => {
    process.exitCode = code;
  });
});
