import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appCodeOf, callerFor, recordingJar, testClock, testInner, userById } from '../../test/context.ts';
import { createTestDb, DIALECTS, type TestDb } from '../../test/db.ts';
import { httpClient, startTestServer } from '../../test/http.ts';
import type { InnerContext } from '../context.ts';

describe.each(DIALECTS)('accounts on %s', (dialect) => {
  let t: TestDb;
  let inner: InnerContext;
  const clock = testClock();
  beforeAll(async () => {
    t = await createTestDb(dialect);
    inner = testInner(t.db, {
      clock,
      env: { ADMIN_EMAILS: 'boss@example.com', SIGNUP_BONUS_CREDITS: '100' },
    });
  });
  afterAll(() => t?.destroy());

  const countUsers = async () => (await t.db.selectFrom('users').select('id').execute()).length;

  it('signs up with a bonus recorded in the ledger, and sets a session', async () => {
    const jar = recordingJar();
    const caller = callerFor(inner, null, { cookies: jar });
    const { user } = await caller.auth.signUp({ email: '  Ann@Example.com ', password: 'correct horse' });
    expect(user).toMatchObject({ email: 'ann@example.com', role: 'user', creditBalance: 100 });
    expect(jar.token).toMatch(/^dfs_/);
    const ledger = await t.db
      .selectFrom('credit_ledger')
      .selectAll()
      .where('user_id', '=', user.id)
      .execute();
    expect(ledger).toMatchObject([{ kind: 'signup_bonus', amount: 100 }]);
    const session = await t.db
      .selectFrom('sessions')
      .selectAll()
      .where('user_id', '=', user.id)
      .executeTakeFirstOrThrow();
    expect(session.token_hash).not.toContain(jar.token!);
  });

  it('refuses an invalid email with VALIDATION and writes nothing', async () => {
    const before = await countUsers();
    expect(
      await appCodeOf(callerFor(inner).auth.signUp({ email: 'not-an-email', password: 'long enough' })),
    ).toBe('VALIDATION');
    expect(await countUsers()).toBe(before);
  });

  it('refuses a short password with VALIDATION and writes nothing', async () => {
    const before = await countUsers();
    expect(
      await appCodeOf(callerFor(inner).auth.signUp({ email: 'short@example.com', password: 'abc' })),
    ).toBe('VALIDATION');
    expect(await countUsers()).toBe(before);
  });

  it('refuses a duplicate email whatever its case, and writes nothing', async () => {
    await callerFor(inner).auth.signUp({ email: 'dup@example.com', password: 'sturdy-pass-1' });
    const before = await countUsers();
    const ledgerBefore = (await t.db.selectFrom('credit_ledger').select('id').execute()).length;
    expect(
      await appCodeOf(callerFor(inner).auth.signUp({ email: 'DUP@example.COM', password: 'sturdy-pass-2' })),
    ).toBe('VALIDATION');
    expect(await countUsers()).toBe(before);
    expect((await t.db.selectFrom('credit_ledger').select('id').execute()).length).toBe(ledgerBefore);
  });

  it('refuses a wrong password with UNAUTHENTICATED and opens no session', async () => {
    const { user } = await callerFor(inner).auth.signUp({
      email: 'wrongpw@example.com',
      password: 'sturdy-pass-1',
    });
    const sessions = async () =>
      (await t.db.selectFrom('sessions').select('id').where('user_id', '=', user.id).execute()).length;
    const before = await sessions();
    const jar = recordingJar();
    const caller = callerFor(inner, null, { cookies: jar });
    expect(await appCodeOf(caller.auth.signIn({ email: 'wrongpw@example.com', password: 'nope-nope' }))).toBe(
      'UNAUTHENTICATED',
    );
    expect(jar.token).toBeNull();
    expect(await sessions()).toBe(before);
    await caller.auth.signIn({ email: 'wrongpw@example.com', password: 'sturdy-pass-1' });
    expect(jar.token).toMatch(/^dfs_/);
  });

  it('rate limits repeated sign-in failures, then releases after the window', async () => {
    await callerFor(inner).auth.signUp({ email: 'brute@example.com', password: 'sturdy-pass-1' });
    const caller = callerFor(inner, null, { ip: '198.51.100.9' });
    for (let i = 0; i < 10; i++) {
      expect(
        await appCodeOf(caller.auth.signIn({ email: 'brute@example.com', password: `guess-${i}` })),
      ).toBe('UNAUTHENTICATED');
    }
    // Even the right password is refused while limited.
    expect(
      await appCodeOf(caller.auth.signIn({ email: 'brute@example.com', password: 'sturdy-pass-1' })),
    ).toBe('RATE_LIMITED');
    clock.advance(16 * 60 * 1000);
    await expect(
      caller.auth.signIn({ email: 'brute@example.com', password: 'sturdy-pass-1' }),
    ).resolves.toBeTruthy();
  });

  it('limits sign-in failures per IP more loosely than per account', async () => {
    await callerFor(inner).auth.signUp({ email: 'shared-ip@example.com', password: 'sturdy-pass-1' });
    const ip = '198.51.100.77';
    // 99 failures from one address (other accounts) still let a right password through...
    await t.db
      .insertInto('rate_limit_events')
      .values(Array.from({ length: 99 }, () => ({ bucket: `signin:ip:${ip}`, created_at: clock.now() })))
      .execute();
    const fromIp = callerFor(inner, null, { ip });
    await expect(
      fromIp.auth.signIn({ email: 'shared-ip@example.com', password: 'sturdy-pass-1' }),
    ).resolves.toBeTruthy();
    // ...the hundredth closes the address, not the account.
    expect(
      await appCodeOf(fromIp.auth.signIn({ email: 'someone-else@example.com', password: 'wrong-one' })),
    ).toBe('UNAUTHENTICATED');
    expect(
      await appCodeOf(fromIp.auth.signIn({ email: 'shared-ip@example.com', password: 'sturdy-pass-1' })),
    ).toBe('RATE_LIMITED');
    const elsewhere = callerFor(inner, null, { ip: '198.51.100.78' });
    await expect(
      elsewhere.auth.signIn({ email: 'shared-ip@example.com', password: 'sturdy-pass-1' }),
    ).resolves.toBeTruthy();
  });

  it('forbids admin procedures to non-admins and allows them to ADMIN_EMAILS', async () => {
    const { user } = await callerFor(inner).auth.signUp({
      email: 'plain@example.com',
      password: 'sturdy-pass-1',
    });
    const plain = callerFor(inner, await userById(t.db, user.id));
    const before = (await userById(t.db, user.id)).credit_balance;
    expect(
      await appCodeOf(plain.admin.credits.grant({ email: 'plain@example.com', amount: 5, note: '' })),
    ).toBe('FORBIDDEN');
    expect(await appCodeOf(plain.admin.users.list())).toBe('FORBIDDEN');
    expect((await userById(t.db, user.id)).credit_balance).toBe(before);

    const { user: boss } = await callerFor(inner).auth.signUp({
      email: 'boss@example.com',
      password: 'sturdy-pass-1',
    });
    expect(boss.role).toBe('admin');
    const admin = callerFor(inner, await userById(t.db, boss.id));
    await expect(
      admin.admin.credits.grant({ email: 'plain@example.com', amount: 5, note: 'thanks' }),
    ).resolves.toEqual({
      balance: before + 5,
    });
    const listed = await admin.admin.users.list({ limit: 200 });
    expect(listed.items.map((u) => u.email)).toContain('plain@example.com');
  });

  it('refuses a negative or fractional grant with VALIDATION and writes nothing', async () => {
    const { user: boss } = await callerFor(inner).auth.signUp({
      email: 'boss2@example.com',
      password: 'sturdy-pass-1',
    });
    const admin = callerFor(inner, { ...(await userById(t.db, boss.id)), role: 'admin' });
    const before = (await t.db.selectFrom('credit_ledger').select('id').execute()).length;
    for (const amount of [-5, 2.5, 0]) {
      expect(
        await appCodeOf(admin.admin.credits.grant({ email: 'boss2@example.com', amount, note: '' })),
      ).toBe('VALIDATION');
    }
    expect((await t.db.selectFrom('credit_ledger').select('id').execute()).length).toBe(before);
  });

  it('pages through credit history with a cursor', async () => {
    const { user } = await callerFor(inner).auth.signUp({
      email: 'pager@example.com',
      password: 'sturdy-pass-1',
    });
    const boss = await t.db
      .selectFrom('users')
      .selectAll()
      .where('email', '=', 'boss@example.com')
      .executeTakeFirstOrThrow();
    const admin = callerFor(inner, boss);
    for (let i = 1; i <= 5; i++)
      await admin.admin.credits.grant({ email: 'pager@example.com', amount: i, note: `g${i}` });
    const me = callerFor(inner, await userById(t.db, user.id));
    const first = await me.credits.history({ limit: 4 });
    expect(first.items.map((r) => r.amount)).toEqual([5, 4, 3, 2]);
    const second = await me.credits.history({ limit: 4, cursor: first.nextCursor });
    expect(second.items.map((r) => r.amount)).toEqual([1, 100]);
    expect(second.nextCursor).toBeNull();
    expect(await me.credits.balance()).toEqual({ balance: 115 });
  });

  it('holds an account to 50 live API tokens, however many creates race; revoked and expired ones make room', async () => {
    const { user } = await callerFor(inner).auth.signUp({
      email: 'many-tokens@example.com',
      password: 'sturdy-pass-1',
    });
    const caller = callerFor(inner, await userById(t.db, user.id));
    const outcomes = await Promise.all(
      Array.from({ length: 60 }, (_, i) =>
        caller.apiTokens.create({ name: `t${i}` }).then(
          () => 'ok',
          (error: unknown) => (error as { cause?: { reason?: string } }).cause?.reason,
        ),
      ),
    );
    expect(outcomes.filter((o) => o === 'ok')).toHaveLength(50);
    expect(outcomes.filter((o) => o === 'TOKEN_LIMIT')).toHaveLength(10);
    expect(await appCodeOf(caller.apiTokens.create({ name: 'one more' }))).toBe('VALIDATION');
    const [first, second] = await caller.apiTokens.list();
    await caller.apiTokens.revoke({ id: first!.id });
    await t.db
      .updateTable('api_tokens')
      .set({ expires_at: clock.now() - 1 })
      .where('id', '=', second!.id)
      .execute();
    await caller.apiTokens.create({ name: 'after a revoke' });
    await caller.apiTokens.create({ name: 'after an expiry' });
    expect(await appCodeOf(caller.apiTokens.create({ name: 'full again' }))).toBe('VALIDATION');
  });

  describe('over HTTP', () => {
    let server: Awaited<ReturnType<typeof startTestServer>>;
    beforeAll(async () => {
      server = await startTestServer(inner);
    });
    afterAll(() => server?.close());

    it('authenticates with the session cookie, and forgets it on sign-out', async () => {
      const cookies = new Map<string, string>();
      const client = httpClient(server.url, { cookies });
      await client.auth.signUp.mutate({ email: 'cookie@example.com', password: 'sturdy-pass-1' });
      expect(cookies.get('df_session')).toMatch(/^dfs_/);
      expect((await client.auth.me.query())?.user.email).toBe('cookie@example.com');
      await client.auth.signOut.mutate();
      expect(await client.auth.me.query()).toBeNull();
      expect(await appCodeOf(client.credits.balance.query())).toBe('UNAUTHENTICATED');
    });

    it('authenticates with an API token, and refuses it once revoked or unknown', async () => {
      const web = httpClient(server.url);
      await web.auth.signUp.mutate({ email: 'tokens@example.com', password: 'sturdy-pass-1' });
      const { id, token } = await web.apiTokens.create.mutate({ name: 'script' });
      const api = httpClient(server.url, { token });
      expect((await api.credits.balance.query()).balance).toBe(100);
      const listed = await web.apiTokens.list.query();
      expect(listed).toHaveLength(1);
      expect(JSON.stringify(listed)).not.toContain(token);
      await web.apiTokens.revoke.mutate({ id });
      expect(await appCodeOf(api.credits.balance.query())).toBe('UNAUTHENTICATED');
      const unknown = httpClient(server.url, { token: 'dft_nope' });
      expect(await unknown.auth.me.query()).toBeNull();
      expect(await appCodeOf(unknown.credits.balance.query())).toBe('UNAUTHENTICATED');
    });

    it('answers bad input with VALIDATION and zod issues, never a 500', async () => {
      const res = await fetch(`${server.url}/trpc/auth.signUp`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ json: { email: 'x', password: 1 } }),
      });
      expect(res.status).toBe(400);
      const body = (await res.json()) as {
        error: { json: { data: { appCode: string; zodIssues: unknown[] } } };
      };
      expect(body.error.json.data.appCode).toBe('VALIDATION');
      expect(body.error.json.data.zodIssues.length).toBeGreaterThan(0);
      expect(JSON.stringify(body)).not.toMatch(/stack|at .*\.ts/);
    });

    it('answers malformed, oversized and wrong-method requests with VALIDATION, not an internal error', async () => {
      const post = (body: string) =>
        fetch(`${server.url}/trpc/auth.signUp`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body,
        });
      const cases = [
        await post('{bad'),
        await post(JSON.stringify({ json: { email: 'a@b.co', password: 'x'.repeat(2_000_000) } })),
        await fetch(`${server.url}/trpc/auth.signUp`),
      ];
      expect(cases.map((r) => r.status)).toEqual([400, 413, 405]);
      for (const res of cases) {
        const body = (await res.json()) as {
          error: { json: { message: string; data: { appCode: string; zodIssues: unknown[] } } };
        };
        expect(body.error.json.data.appCode).toBe('VALIDATION');
        expect(body.error.json.data.zodIssues).toHaveLength(1);
      }
    });

    it('sends zod issues with every VALIDATION, those of checks after the schema naming their field', async () => {
      const call = async (path: string, input: unknown, token?: string) => {
        const res = await fetch(`${server.url}/trpc/${path}`, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            ...(token ? { authorization: `Bearer ${token}` } : {}),
          },
          body: JSON.stringify({ json: input }),
        });
        expect(res.status, path).toBe(400);
        type Issue = { code: string; path: string[]; message: string };
        const body = (await res.json()) as {
          error: { json: { data: { appCode: string; reason?: string; zodIssues: Issue[] } } };
        };
        expect(body.error.json.data.appCode).toBe('VALIDATION');
        return body.error.json.data;
      };
      const web = httpClient(server.url);
      await web.auth.signUp.mutate({ email: 'issues@example.com', password: 'sturdy-pass-1' });
      const taken = await call('auth.signUp', { email: 'issues@example.com', password: 'sturdy-pass-2' });
      expect(taken.reason).toBe('EMAIL_TAKEN');
      expect(taken.zodIssues).toEqual([
        expect.objectContaining({
          code: 'custom',
          path: ['email'],
          message: expect.stringMatching(/exists/),
        }),
      ]);
      const common = await call('auth.signUp', { email: 'issues-2@example.com', password: 'password123' });
      expect(common.zodIssues.map((i) => i.path)).toEqual([['password']]);
      const { token } = await web.apiTokens.create.mutate({ name: 'issues' });
      const size = await call('ai.generateImage', { prompt: 'x', size: '3000x3000' }, token);
      expect(size.reason).toBe('PARAMS_NOT_OFFERED');
      expect(size.zodIssues.map((i) => i.path)).toEqual([['size']]);
      const model = await call('ai.generateImage', { prompt: 'x', model: 'no-such-model' }, token);
      expect(model.zodIssues.map((i) => i.path)).toEqual([['model']]);
    });

    it('answers /healthz after pinging the database', async () => {
      const res = await fetch(`${server.url}/healthz`);
      expect(await res.json()).toEqual({ ok: true, db: 'up' });
    });
  });
});
