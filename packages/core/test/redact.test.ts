import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { EventWriter } from '../src/events/writer.js';
import { openLedger } from '../src/ledger/index.js';
import { REDACTED, redactStrings, redactText, redactValue, rememberSecret, rememberSecretsIn } from '../src/redact.js';

// Every shape, in the text it would really appear in. Fakes built to each vendor's format.
const a40 = 'A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8S9t0';
const SECRETS: Array<[string, string, string]> = [
  ['Anthropic API key', 'ANTHROPIC key is sk-ant-api03-', `${a40}-xyz`],
  ['OpenAI project key', 'export OPENAI=', `sk-proj-${a40}`],
  ['GitHub classic token', 'push with ', `ghp_${a40.slice(0, 36)}`],
  ['GitHub fine-grained token', 'token ', `github_pat_11ABCDEFG0${a40}_${a40.slice(0, 20)}`],
  ['AWS access key id', 'key id ', 'AKIAIOSFODNN7EXAMPLE'],
  ['Slack bot token', 'slack ', 'xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx'],
  ['Slack app token', 'app ', 'xapp-1-A0123456789-1234567890123-abcdef0123456789'],
  ['npm token', '//registry.npmjs.org/:_authToken ', `npm_${a40.slice(0, 36)}`],
  ['Hugging Face token', 'hf ', `hf_${a40.slice(0, 34)}`],
  ['Telegram bot token', 'bot token ', '123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw'],
  ['Telegram token in a Bot API URL', 'Cannot POST /bot', '987654321:AAFAKEfakeFAKEfakeFAKEfakeFAKEfake12/sendMessage'],
  ['Google API key', 'maps ', `AIza${a40.slice(0, 35)}`],
  ['JWT', 'cookie: ', 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U'],
  ['PEM private key', 'found ', '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----'],
  ['Slack webhook URL', 'posting to ', 'https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX'],
  ['Discord webhook URL', 'posting to ', 'https://discord.com/api/webhooks/123456789012345678/abcDEF_ghi-JKL'],
  ['Bearer header', 'authorization: Bearer ', 'abcdefghijklmnop.qrstuvwx'],
];

t.test('every vendor shape is replaced, and the text around it kept', async (t) => {
  for (const [name, before, secret] of SECRETS) {
    const out = redactText(`${before}${secret} end`);
    t.notOk(out.includes(secret), `${name}: gone (${out})`);
    t.ok(out.includes(REDACTED), `${name}: placeholder`);
    t.ok(out.endsWith(' end') || name.includes('PEM') || name.includes('URL'), `${name}: the rest kept`);
  }
});

t.test('secret-named assignments, URL userinfo, query parameters and path tokens', async (t) => {
  const cases: Array<[string, string]> = [
    ['GITHUB_TOKEN=abcd1234efgh', 'GITHUB_TOKEN=[redacted]'],
    ['aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY', 'aws_secret_access_key = [redacted]'],
    ['{"api_key": "k-12345678"}', '{"api_key": "[redacted]"}'],
    ['DB_PASSWORD=hunter22', 'DB_PASSWORD=[redacted]'],
    ['git clone https://oauth2:glpat-abcdef123@gitlab.example/x.git', 'git clone https://oauth2:[redacted]@gitlab.example/x.git'],
    ['GET https://api.example/v1?access_token=abc123def&page=2', 'GET https://api.example/v1?access_token=[redacted]&page=2'],
    [
      'POST https://hooks.example.com/incoming/Zk3nQ8pX2vR7tY1mW4sL9cB6 failed',
      'POST https://hooks.example.com/incoming/[redacted] failed',
    ],
  ];
  for (const [input, want] of cases) t.equal(redactText(input), want, input);
});

t.test('what is not a secret stays: counts, SHAs, nonces, paths, times, ids', async (t) => {
  const keep = [
    '"usage":{"input_tokens":12345,"output_tokens":678,"cache_read_input_tokens":90123}',
    'stash 3f2a9c1b7e4d5f60718293a4b5c6d7e8f9012345 and https://github.com/o/r/commit/3f2a9c1b7e4d5f60718293a4b5c6d7e8f9012345',
    'nonce 8c1f0e4b2a9d47c6b3e5f7a1d2c4e6f8 boot 5b1e7a2c-3d4f-4a6b-8c9d-0e1f2a3b4c5d',
    '/var/lib/agent-runner/proj/logs/round-000123.log at 2026-12-02T21:49:17.123Z',
    'alarm:12:raised soak:42:hook max_tokens = 4096',
    'https://ntfy.sh/agent-runner-alerts and !room:matrix.org',
  ];
  for (const k of keep) t.equal(redactText(k), k, k);
});

t.test('known secret values are replaced whatever their shape', async (t) => {
  rememberSecret('plainpassword');
  rememberSecret('short'); // too short to be told from a word: ignored
  rememberSecretsIn({ WEBHOOK_HMAC: 'not-a-vendor-shape', HOME: '/home/op', MY_TOKEN: 'tok-value-1' });
  rememberSecretsIn({ ANY: 'from-an-env-file' }, true);
  t.equal(redactText('login with plainpassword now'), `login with ${REDACTED} now`);
  t.equal(redactText('short'), 'short');
  t.equal(redactText('tok-value-1 and from-an-env-file'), `${REDACTED} and ${REDACTED}`);
  t.equal(redactText('sig not-a-vendor-shape'), `sig ${REDACTED}`, 'the value of a secret-named variable');
  t.equal(redactText('/home/op/x'), '/home/op/x', 'values of other variables are not secrets');
  rememberSecretsIn({ GIT_AUTHOR_NAME: 'Grace Hopper', GIT_AUTHOR_EMAIL: 'grace@example.org', XAUTHORITY: '/home/op/.Xauthority' });
  t.equal(
    redactText('commit by Grace Hopper <grace@example.org>'),
    'commit by Grace Hopper <grace@example.org>',
    'an author is not a secret',
  );
});

t.test('redactStrings keeps keys and numbers; redactValue also hides secret-named string values', async (t) => {
  const v = { input_tokens: 12, session_id: 'abc', note: 'key sk-ant-api03-abcdefghijkl', nested: [{ token: 'x' }] };
  t.same(redactStrings(v), { input_tokens: 12, session_id: 'abc', note: `key ${REDACTED}`, nested: [{ token: 'x' }] });
  t.same(redactValue(v), { input_tokens: 12, session_id: REDACTED, note: `key ${REDACTED}`, nested: [{ token: REDACTED }] });
});

t.test('boundaries: the event writer and the ledger store secrets redacted', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ar-redact-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const key = `sk-ant-api03-${a40}`;
  const w = new EventWriter({ dir, unit: 'runner', project: 'p' });
  w.emit('agent_self_terminated', { reason: `done; my key is ${key}` }, { round: 1 });
  w.close();
  const written = readFileSync(join(dir, readdirSync(dir).find((f) => f.endsWith('.jsonl')) as string), 'utf8');
  t.notOk(written.includes(key), 'not in the event file');
  t.match(written, /done; my key is \[redacted\]/);

  const ledger = openLedger(join(dir, 'ledger.db'));
  t.teardown(() => ledger.close());
  const { id } = ledger.outbox.enqueue({
    idempotencyKey: 'k',
    kind: 'round_end',
    severity: 'warning',
    title: `t ${key}`,
    body: `b ${key}`,
    payload: { tail: key },
  });
  ledger.bridge.markFailed(id, `HTTP 404: Cannot POST /bot${key}/sendMessage`, Date.now());
  const row = ledger.outbox.getOutbox(id);
  t.notOk(JSON.stringify(row).includes(key), 'not in title, body or payload');
});
