import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appCodeOf, callerFor, recordingJar, testClock, testInner, userById } from '../../test/context.ts';
import { createTestDb, DIALECTS, ledgerMismatches, type TestDb } from '../../test/db.ts';
import { httpClient, startTestServer } from '../../test/http.ts';
import { linkIn, startSmtpReceiver } from '../../test/smtp.ts';
import type { InnerContext } from '../context.ts';
import { purgeSessions, SESSION_IDLE_MS } from '../services/auth.ts';

/** The error's data.reason of a rejected call (tRPC over HTTP or a server-side caller). */
async function reasonOf(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
  } catch (error) {
    const e = error as {
      data?: { reason?: string };
      shape?: { data?: { reason?: string } };
      cause?: unknown;
    };
    return e.data?.reason ?? e.shape?.data?.reason ?? (e.cause as { reason?: string } | undefined)?.reason;
  }
  throw new Error('expected the call to fail');
}

describe.each(DIALECTS)('accounts with email on %s', (dialect) => {
  let t: TestDb;
  let inner: InnerContext;
  let smtp: Awaited<ReturnType<typeof startSmtpReceiver>>;
  const clock = testClock();
  beforeAll(async () => {
    t = await createTestDb(dialect);
    smtp = await startSmtpReceiver();
    inner = testInner(t.db, {
      clock,
      env: {
        SMTP_URL: smtp.url,
        PUBLIC_URL: 'https://dream.example.com',
        ADMIN_EMAILS: 'Boss@Example.com',
        SIGNUP_BONUS_CREDITS: '100',
      },
    });
  });
  afterAll(async () => {
    await t?.destroy();
    await smtp?.close();
  });

  const ledger = (userId: string) =>
    t.db.selectFrom('credit_ledger').selectAll().where('user_id', '=', userId).execute();

  it('grants the sign-up bonus once the address is verified through the emailed link, and only once', async () => {
    const { user } = await callerFor(inner).auth.signUp({
      email: 'mail@example.com',
      password: 'sturdy-pass-1',
    });
    expect(user).toMatchObject({ creditBalance: 0, emailVerified: false });
    expect(await ledger(user.id)).toEqual([]);
    const [mail] = await smtp.waitFor('mail@example.com');
    const link = linkIn(mail!, '/verify-email');
    expect(link.origin).toBe('https://dream.example.com');
    const token = link.searchParams.get('token')!;

    const verified = await callerFor(inner).auth.verifyEmail({ token });
    expect(verified.user).toMatchObject({ creditBalance: 100, emailVerified: true });
    expect(await reasonOf(callerFor(inner).auth.verifyEmail({ token }))).toBe('VERIFY_LINK_INVALID');
    // A second link (resend) verifies nothing new and gives no second bonus.
    expect((await ledger(user.id)).map((r) => r.kind)).toEqual(['signup_bonus']);
    expect(await ledgerMismatches(t.db, [user.id])).toEqual([]);
  });

  it('resends a verification link to an unverified account, never a second bonus', async () => {
    const { user } = await callerFor(inner).auth.signUp({
      email: 'resend@example.com',
      password: 'sturdy-pass-1',
    });
    const me = callerFor(inner, await userById(t.db, user.id));
    await expect(me.auth.resendVerification()).resolves.toEqual({ sent: true });
    const mails = await smtp.waitFor('resend@example.com', 2);
    const [first, second] = mails.map((m) => linkIn(m, '/verify-email').searchParams.get('token')!);
    await callerFor(inner).auth.verifyEmail({ token: second! });
    // The older link still works once (it is unused) but verifies nothing new.
    await callerFor(inner).auth.verifyEmail({ token: first! });
    expect((await ledger(user.id)).map((r) => r.kind)).toEqual(['signup_bonus']);
    await expect(callerFor(inner, await userById(t.db, user.id)).auth.resendVerification()).resolves.toEqual({
      sent: false,
    });
  });

  it('resets a password through the emailed link: single use, other sessions end, the old password fails', async () => {
    const jar = recordingJar();
    await callerFor(inner, null, { cookies: jar }).auth.signUp({
      email: 'reset@example.com',
      password: 'sturdy-pass-1',
    });
    const oldSession = jar.token!;
    await callerFor(inner).auth.requestPasswordReset({ email: 'reset@example.com' });
    const [mail] = await smtp.waitFor('reset@example.com', 2); // verification + reset
    const resetMail = smtp.to('reset@example.com').find((m) => m.raw.includes('/reset-password'))!;
    expect(mail).toBeTruthy();
    const token = linkIn(resetMail, '/reset-password').searchParams.get('token')!;

    expect(await reasonOf(callerFor(inner).auth.resetPassword({ token, password: 'password123' }))).toBe(
      'PASSWORD_TOO_COMMON',
    );
    const newJar = recordingJar();
    const { user } = await callerFor(inner, null, { cookies: newJar }).auth.resetPassword({
      token,
      password: 'brand-new-secret-9',
    });
    expect(newJar.token).toMatch(/^dfs_/);
    // Proving the mailbox verifies the address (and pays the waiting bonus).
    expect(user.emailVerified).toBe(true);
    const sessions = await t.db
      .selectFrom('sessions')
      .select('token_hash')
      .where('user_id', '=', user.id)
      .execute();
    expect(sessions).toHaveLength(1);
    expect(oldSession).not.toBe(newJar.token);
    expect(await reasonOf(callerFor(inner).auth.resetPassword({ token, password: 'another-secret-9' }))).toBe(
      'RESET_LINK_INVALID',
    );
    expect(
      await reasonOf(
        callerFor(inner, null, { ip: '192.0.2.50' }).auth.signIn({
          email: 'reset@example.com',
          password: 'sturdy-pass-1',
        }),
      ),
    ).toBe('WRONG_CREDENTIALS');
    await callerFor(inner).auth.signIn({ email: 'reset@example.com', password: 'brand-new-secret-9' });
  });

  it('refuses a reset link after 30 minutes, and answers the same for an unknown address', async () => {
    await callerFor(inner).auth.signUp({ email: 'late-reset@example.com', password: 'sturdy-pass-1' });
    await callerFor(inner).auth.requestPasswordReset({ email: 'late-reset@example.com' });
    await smtp.waitFor('late-reset@example.com', 2);
    const resetMail = smtp.to('late-reset@example.com').find((m) => m.raw.includes('/reset-password'))!;
    const token = linkIn(resetMail, '/reset-password').searchParams.get('token')!;
    clock.advance(31 * 60 * 1000);
    expect(
      await reasonOf(callerFor(inner).auth.resetPassword({ token, password: 'brand-new-secret-9' })),
    ).toBe('RESET_LINK_INVALID');
    const before = smtp.inbox.length;
    await expect(
      callerFor(inner).auth.requestPasswordReset({ email: 'nobody@example.com' }),
    ).resolves.toEqual({
      sent: true,
    });
    expect(smtp.inbox.length).toBe(before);
  });

  it('limits reset emails per address', async () => {
    await callerFor(inner).auth.signUp({ email: 'bomb@example.com', password: 'sturdy-pass-1' });
    const caller = callerFor(inner, null, { ip: '192.0.2.61' });
    for (let i = 0; i < 5; i++) await caller.auth.requestPasswordReset({ email: 'bomb@example.com' });
    expect(await reasonOf(caller.auth.requestPasswordReset({ email: 'bomb@example.com' }))).toBe(
      'TOO_MANY_EMAILS',
    );
  });

  it('changes the password: the current one is checked, common ones refused, other sessions end', async () => {
    const jar = recordingJar();
    const { user } = await callerFor(inner, null, { cookies: jar }).auth.signUp({
      email: 'change@example.com',
      password: 'sturdy-pass-1',
    });
    const current = jar.token!;
    const other = recordingJar();
    await callerFor(inner, null, { cookies: other }).auth.signIn({
      email: 'change@example.com',
      password: 'sturdy-pass-1',
    });
    const me = callerFor(inner, await userById(t.db, user.id), {
      sessionToken: current,
      auth: { kind: 'session' },
    });
    expect(
      await reasonOf(
        me.auth.changePassword({ currentPassword: 'wrong-one-1', newPassword: 'brand-new-secret-9' }),
      ),
    ).toBe('WRONG_PASSWORD');
    expect(
      await reasonOf(me.auth.changePassword({ currentPassword: 'sturdy-pass-1', newPassword: 'qwertyuiop' })),
    ).toBe('PASSWORD_TOO_COMMON');
    await me.auth.changePassword({ currentPassword: 'sturdy-pass-1', newPassword: 'brand-new-secret-9' });
    const { userFromSession } = await import('../services/auth.ts');
    expect(await userFromSession(t.db, current, clock.now())).not.toBeNull();
    expect(await userFromSession(t.db, other.token!, clock.now())).toBeNull();
    const audit = await t.db
      .selectFrom('audit_log')
      .selectAll()
      .where('action', '=', 'password.changed')
      .execute();
    expect(audit.map((a) => a.actor_user_id)).toContain(user.id);
    expect(JSON.stringify(audit)).not.toContain('brand-new-secret-9');
  });

  it('signs out everywhere', async () => {
    const a = recordingJar();
    const { user } = await callerFor(inner, null, { cookies: a }).auth.signUp({
      email: 'everywhere@example.com',
      password: 'sturdy-pass-1',
    });
    const b = recordingJar();
    await callerFor(inner, null, { cookies: b }).auth.signIn({
      email: 'everywhere@example.com',
      password: 'sturdy-pass-1',
    });
    await callerFor(inner, await userById(t.db, user.id), { cookies: a }).auth.signOutEverywhere();
    const { userFromSession } = await import('../services/auth.ts');
    expect(await userFromSession(t.db, b.token!, clock.now())).toBeNull();
    expect(a.token).toBeNull();
  });

  it('ends a session idle for 14 days, keeps a used one, and purges the dead', async () => {
    const idle = recordingJar();
    const used = recordingJar();
    await callerFor(inner, null, { cookies: idle }).auth.signUp({
      email: 'idle@example.com',
      password: 'sturdy-pass-1',
    });
    await callerFor(inner, null, { cookies: used }).auth.signIn({
      email: 'idle@example.com',
      password: 'sturdy-pass-1',
    });
    const { userFromSession } = await import('../services/auth.ts');
    clock.advance(SESSION_IDLE_MS - 60 * 60 * 1000);
    expect(await userFromSession(t.db, used.token!, clock.now())).not.toBeNull(); // touches it
    clock.advance(2 * 60 * 60 * 1000);
    expect(await userFromSession(t.db, idle.token!, clock.now())).toBeNull();
    expect(await userFromSession(t.db, used.token!, clock.now())).not.toBeNull();
    expect(await purgeSessions(t.db, clock.now())).toBeGreaterThan(0);
    const { hashToken } = await import('../services/auth.ts');
    const left = await t.db
      .selectFrom('sessions')
      .select('token_hash')
      .where('token_hash', 'in', [hashToken(idle.token!), hashToken(used.token!)])
      .execute();
    expect(left.map((s) => s.token_hash)).toEqual([hashToken(used.token!)]);
  });

  it('makes a listed address admin only once verified (SMTP set), whatever its casing at sign-up', async () => {
    const { user } = await callerFor(inner).auth.signUp({
      email: ' BOSS@example.com ',
      password: 'sturdy-pass-1',
    });
    expect(user.role).toBe('user');
    expect(await appCodeOf(callerFor(inner, await userById(t.db, user.id)).admin.users.list())).toBe(
      'FORBIDDEN',
    );
    const mail = (await smtp.waitFor('boss@example.com'))[0]!;
    const { user: verified } = await callerFor(inner).auth.verifyEmail({
      token: linkIn(mail, '/verify-email').searchParams.get('token')!,
    });
    expect(verified.role).toBe('admin');
    await expect(callerFor(inner, await userById(t.db, user.id)).admin.users.list()).resolves.toBeTruthy();
    // The list part is never stored.
    expect((await userById(t.db, user.id)).role).toBe('user');
  });

  it('refuses the most common passwords at sign-up', async () => {
    for (const password of ['password123', 'qwertyuiop', '11111111', 'common@example.com']) {
      expect(await reasonOf(callerFor(inner).auth.signUp({ email: 'common@example.com', password }))).toBe(
        'PASSWORD_TOO_COMMON',
      );
    }
    expect(
      await t.db.selectFrom('users').select('id').where('email', '=', 'common@example.com').execute(),
    ).toEqual([]);
  });
});

describe.each(DIALECTS)('roles, tokens and the audit log on %s', (dialect) => {
  let t: TestDb;
  const clock = testClock();
  beforeAll(async () => {
    t = await createTestDb(dialect);
  });
  afterAll(() => t?.destroy());

  it('demotes an address removed from ADMIN_EMAILS on its next request, sessions and tokens included', async () => {
    const listed = testInner(t.db, { clock, env: { ADMIN_EMAILS: 'chief@example.com' } });
    const unlisted = testInner(t.db, { clock, env: { ADMIN_EMAILS: 'someone-else@example.com' } });
    const before = await startTestServer(listed);
    const after = await startTestServer(unlisted);
    try {
      const cookies = new Map<string, string>();
      const web = httpClient(before.url, { cookies });
      const { user } = await web.auth.signUp.mutate({
        email: 'chief@example.com',
        password: 'sturdy-pass-1',
      });
      expect(user.role).toBe('admin'); // no SMTP: listed is admin at once, as before
      const { token } = await web.apiTokens.create.mutate({ name: 'ops', admin: true });
      await expect(httpClient(before.url, { token }).admin.users.list.query()).resolves.toBeTruthy();

      // Same database, the list without the address: the next request is a plain user's.
      const webAfter = httpClient(after.url, { cookies });
      expect((await webAfter.auth.me.query())?.user.role).toBe('user');
      expect(await appCodeOf(webAfter.admin.users.list.query())).toBe('FORBIDDEN');
      expect(await appCodeOf(httpClient(after.url, { token }).admin.users.list.query())).toBe('FORBIDDEN');
    } finally {
      await before.close();
      await after.close();
    }
  });

  it('gives API tokens admin power only with the admin scope, from an admin, and never lets a token mint one', async () => {
    const inner = testInner(t.db, { clock, env: { ADMIN_EMAILS: 'ops@example.com' } });
    const server = await startTestServer(inner);
    try {
      const admin = httpClient(server.url);
      await admin.auth.signUp.mutate({ email: 'ops@example.com', password: 'sturdy-pass-1' });
      const plainToken = (await admin.apiTokens.create.mutate({ name: 'read' })).token;
      expect(await appCodeOf(httpClient(server.url, { token: plainToken }).admin.users.list.query())).toBe(
        'FORBIDDEN',
      );
      expect((await httpClient(server.url, { token: plainToken }).auth.me.query())?.user.role).toBe('user');
      const adminToken = (await admin.apiTokens.create.mutate({ name: 'ops', admin: true })).token;
      await expect(
        httpClient(server.url, { token: adminToken }).admin.users.list.query(),
      ).resolves.toBeTruthy();
      expect(
        await reasonOf(httpClient(server.url, { token: adminToken }).apiTokens.create.mutate({ name: 'x' })),
      ).toBe('TOKEN_CANNOT_MINT');
      expect(
        await reasonOf(
          httpClient(server.url, { token: adminToken }).auth.changePassword.mutate({
            currentPassword: 'sturdy-pass-1',
            newPassword: 'brand-new-secret-9',
          }),
        ),
      ).toBe('SESSION_REQUIRED');

      const user = httpClient(server.url);
      await user.auth.signUp.mutate({ email: 'plain-token@example.com', password: 'sturdy-pass-1' });
      expect(await reasonOf(user.apiTokens.create.mutate({ name: 'sneaky', admin: true }))).toBe(
        'ADMIN_SCOPE_NOT_ALLOWED',
      );
      const { token: shortLived } = await user.apiTokens.create.mutate({ name: 'day', expiresInDays: 1 });
      const api = httpClient(server.url, { token: shortLived });
      await expect(api.credits.balance.query()).resolves.toBeTruthy();
      clock.advance(24 * 3600 * 1000 + 1);
      expect(await reasonOf(api.credits.balance.query())).toBe('TOKEN_EXPIRED');
      const listed = await user.apiTokens.list.query();
      expect(listed[0]).toMatchObject({ name: 'day', scope: 'user' });
      expect(listed[0]?.expiresAt).toBeInstanceOf(Date);
    } finally {
      await server.close();
    }
  });

  it('lets an admin page through the audit log, and no one else', async () => {
    const inner = testInner(t.db, { clock, env: { ADMIN_EMAILS: 'auditor@example.com' } });
    const { user } = await callerFor(inner).auth.signUp({
      email: 'auditor@example.com',
      password: 'sturdy-pass-1',
    });
    await appCodeOf(
      callerFor(inner, null, { ip: '192.0.2.99' }).auth.signIn({
        email: 'auditor@example.com',
        password: 'nope-nope-1',
      }),
    );
    await callerFor(inner).auth.signIn({ email: 'auditor@example.com', password: 'sturdy-pass-1' });
    const admin = callerFor(inner, await userById(t.db, user.id));
    await admin.admin.codes.create({ credits: 5, count: 2 });
    const first = await admin.admin.audit.list({ limit: 2 });
    expect(first.items).toHaveLength(2);
    expect(first.nextCursor).not.toBeNull();
    const all = await admin.admin.audit.list({ limit: 200 });
    const actions = all.items.map((i) => i.action);
    for (const a of ['signup', 'signin.failed', 'signin.ok', 'codes.created']) expect(actions).toContain(a);
    // The particulars come as data too, so the page says them in its own language.
    expect(all.items.find((i) => i.action === 'codes.created')).toMatchObject({
      detail: '2 codes × 5 credits',
      details: { kind: 'codes', count: 2, credits: 5 },
    });
    const failed = await admin.admin.audit.list({ action: 'signin.failed', limit: 10 });
    expect(failed.items.every((i) => i.action === 'signin.failed')).toBe(true);
    expect(failed.items[0]).toMatchObject({ subject: 'auditor@example.com', ip: '192.0.2.99' });
    const { user: nobody } = await callerFor(inner).auth.signUp({
      email: 'nosy@example.com',
      password: 'sturdy-pass-1',
    });
    expect(await appCodeOf(callerFor(inner, await userById(t.db, nobody.id)).admin.audit.list())).toBe(
      'FORBIDDEN',
    );
  });
});
