import t from 'tap';
import { SMTPServer } from 'smtp-server';
import type { AddressInfo } from 'node:net';
import { emailTransport } from '../src/transports/email.js';
import { ctx, msg, notifyCfg, rejection } from './helpers.js';

t.test('email over a real SMTP exchange (smtp-server)', async (t) => {
  const mails: Array<{ from: string; to: string[]; data: string; user?: string | undefined }> = [];
  let rejectNext: number | undefined;
  const server = new SMTPServer({
    disabledCommands: ['STARTTLS'],
    authOptional: false,
    allowInsecureAuth: true,
    onAuth(auth, _session, cb) {
      if (auth.username === 'bot' && auth.password === 'pw-123') return cb(null, { user: 'bot' });
      return cb(new Error('Invalid username or password'));
    },
    onData(stream, session, cb) {
      let data = '';
      stream.on('data', (c: Buffer) => (data += c.toString()));
      stream.on('end', () => {
        if (rejectNext !== undefined) {
          const code = rejectNext;
          rejectNext = undefined;
          const err = new Error(code >= 500 ? 'mailbox unavailable' : 'try again later') as Error & { responseCode: number };
          err.responseCode = code;
          return cb(err);
        }
        mails.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          data,
          user: session.user as string | undefined,
        });
        cb();
      });
    },
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.server.address() as AddressInfo).port;
  const c = ctx({ SMTP_PW: 'pw-123' });
  t.teardown(async () => {
    await c.http.close();
    await new Promise<void>((r) => server.close(() => r()));
  });
  const cfg = notifyCfg('mail', 'email', {
    smtp_host: '127.0.0.1',
    smtp_port: port,
    starttls: false,
    username: 'bot',
    password_env: 'SMTP_PW',
    from: 'runner@example.org',
    to: ['ops@example.org', 'me@example.org'],
  });
  const mail = emailTransport(cfg, c);
  await mail.send(msg({ key: 'round-end:7' }));
  t.equal(mails.length, 1);
  t.equal(mails[0]?.user, 'bot');
  t.same(mails[0]?.to, ['ops@example.org', 'me@example.org']);
  t.match(mails[0]?.data, /\r\nSubject: Round 7 rate limited\r\n/, 'the title as is, no severity tag');
  t.match(mails[0]?.data, /X-Agent-Runner-Severity: warning/);
  t.match(mails[0]?.data, /resets at 14:00/);
  const alarmId = /Message-ID: (<[0-9a-f]{32}@agent-runner>)/i.exec(mails[0]?.data ?? '')?.[1];
  t.ok(alarmId, 'Message-ID derived from the key');
  await mail.send(msg({ key: 'alarm:1:cleared:mail', severity: 'critical', replyTo: { key: 'round-end:7', platformMessageId: null } }));
  t.match(mails[1]?.data, new RegExp(`In-Reply-To: ${alarmId}`), 'a recovery threads under its alarm');
  t.match(mails[1]?.data, new RegExp(`References: ${alarmId}`));
  t.match(mails[1]?.data, /Importance: high/);

  rejectNext = 451;
  let e = await rejection(mail.send(msg()));
  t.equal(e.retryable, true, 'SMTP 4xx is retried');
  rejectNext = 550;
  e = await rejection(mail.send(msg()));
  t.equal(e.retryable, false, 'SMTP 5xx is permanent');
  const wrongPw = emailTransport(cfg, ctx({ SMTP_PW: 'nope' }));
  e = await rejection(wrongPw.send(msg()));
  t.notMatch(e.message, /nope|pw-123/, 'password never in errors');
  const down = emailTransport({ ...cfg, smtp_port: 1 }, c);
  e = await rejection(down.send(msg()));
  t.equal(e.retryable, true, 'connection refused is retried');
});
