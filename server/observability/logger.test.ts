import { afterEach, describe, expect, it } from 'vitest';
import { testInner } from '../../test/context.ts';
import { createTestDb } from '../../test/db.ts';
import { startTestServer } from '../../test/http.ts';
import { linkIn, startSmtpReceiver } from '../../test/smtp.ts';
import { logger, routeConsoleToLogger } from '../logger.ts';

/** A tRPC mutation over HTTP, as a browser sends it, with these headers. */
const post = (baseUrl: string, procedure: string, input: unknown, headers: Record<string, string>) =>
  fetch(`${baseUrl}/trpc/${procedure}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ json: input }),
  });

describe('logger', () => {
  const lines: string[] = [];
  logger.setSink((line) => lines.push(line));
  const original = { ...console };

  afterEach(() => {
    Object.assign(console, original);
    logger.setFormat('json');
    logger.setLevel('info');
    lines.length = 0;
  });

  it("carries a request's id on its request line, its audit lines and its jobs' lines", async () => {
    const t = await createTestDb('sqlite');
    const server = await startTestServer(testInner(t.db));
    logger.setLevel('info');
    try {
      const signUp = await post(
        server.url,
        'auth.signUp',
        { email: 'logs@example.com', password: 'sturdy-pass-1' },
        { 'x-request-id': 'req-signup' },
      );
      expect(signUp.headers.get('x-request-id')).toBe('req-signup');
      const cookie = signUp.headers.getSetCookie()[0]!.split(';')[0]!;
      const video = await post(
        server.url,
        'ai.generateVideo',
        { prompt: 'waves' },
        { cookie, 'x-request-id': 'req-video' },
      );
      expect(video.status).toBe(200);
      await new Promise((r) => setTimeout(r, 20)); // the request line is written when the answer has gone
      const entries = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
      const of = (requestId: string) => entries.filter((e) => e.requestId === requestId).map((e) => e.msg);
      // The verification email (logged, with no SMTP) carries the id of the sign-up that sent it.
      expect(of('req-signup')).toEqual(['audit', 'email (SMTP_URL unset, not sent)', 'request']);
      expect(of('req-video')).toEqual(['job queued', 'request']);
      const request = entries.find((e) => e.msg === 'request' && e.requestId === 'req-video');
      expect(request).toMatchObject({
        path: '/trpc/ai.generateVideo',
        procedure: 'ai.generateVideo',
        status: 200,
        userId: expect.any(String),
      });
      // A line logged outside any request carries no id.
      logger.info('outside');
      expect(JSON.parse(lines.at(-1)!).requestId).toBeUndefined();
    } finally {
      await server.close();
      await t.destroy();
    }
  });

  it('carries the request id on the audit line of an address verified from its link', async () => {
    const smtp = await startSmtpReceiver();
    const t = await createTestDb('sqlite');
    const server = await startTestServer(
      testInner(t.db, { env: { SMTP_URL: smtp.url, PUBLIC_URL: 'https://dream.example.com' } }),
    );
    logger.setLevel('info');
    try {
      await post(
        server.url,
        'auth.signUp',
        { email: 'verify-logs@example.com', password: 'sturdy-pass-1' },
        { 'x-request-id': 'req-a' },
      );
      const [mail] = await smtp.waitFor('verify-logs@example.com');
      const token = linkIn(mail!, '/verify-email').searchParams.get('token');
      const verified = await post(
        server.url,
        'auth.verifyEmail',
        { token },
        { 'x-request-id': 'req-verify' },
      );
      expect(verified.status).toBe(200);
      await new Promise((r) => setTimeout(r, 20));
      const entries = lines.map((l) => JSON.parse(l));
      const audits = entries.filter((e) => e.msg === 'audit');
      expect(audits.find((e) => e.action === 'email.verified')).toMatchObject({ requestId: 'req-verify' });
      // The email that went out over SMTP is logged with the sign-up's id.
      expect(entries.find((e) => e.msg === 'email sent')).toMatchObject({
        requestId: 'req-a',
        to: 'verify-logs@example.com',
      });
    } finally {
      await server.close();
      await t.destroy();
      await smtp.close();
    }
  });

  it('sends third-party console output through the same logger', () => {
    routeConsoleToLogger();
    console.warn('[urllib:warn] [%s] callback twice!!!', 'GET');
    const entry = JSON.parse(lines[0]!);
    expect(entry).toMatchObject({
      level: 'warn',
      msg: '[urllib:warn] [GET] callback twice!!!',
      source: 'console',
    });
  });

  it('writes readable lines with LOG_FORMAT=pretty', () => {
    logger.setFormat('pretty');
    logger.info('listening', { url: 'http://127.0.0.1:3000' });
    expect(lines[0]).toMatch(/^\d\d:\d\d:\d\d\.\d{3} INFO {2}listening url=http:\/\/127\.0\.0\.1:3000\n$/);
  });
});
