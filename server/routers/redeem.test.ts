import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { User } from '../../db/schema.ts';
import { createClient } from '../../shared/api-client.ts';
import { appCodeOf, callerFor, testClock, testInner, userById } from '../../test/context.ts';
import { createTestDb, DIALECTS, type TestDb } from '../../test/db.ts';
import { httpClient, startTestServer } from '../../test/http.ts';
import type { InnerContext } from '../context.ts';
import { newId } from '../services/ids.ts';

describe.each(DIALECTS)('redeem and admin.codes procedures on %s', (dialect) => {
  let t: TestDb;
  let inner: InnerContext;
  let admin: User;
  const clock = testClock();
  let ipCounter = 0;
  const freshIp = () => `192.0.2.${++ipCounter}`;

  beforeAll(async () => {
    t = await createTestDb(dialect);
    inner = testInner(t.db, { clock, env: { ADMIN_EMAILS: 'boss@example.com', SIGNUP_BONUS_CREDITS: '0' } });
    admin = await makeUser('admin', 'boss@example.com');
  });
  afterAll(() => t?.destroy());

  async function makeUser(role: 'user' | 'admin' = 'user', email?: string): Promise<User> {
    const id = newId();
    await t.db
      .insertInto('users')
      .values({
        id,
        email: email ?? `${id}@example.com`,
        password_hash: 'x',
        role,
        credit_balance: 0,
        created_at: 1,
      })
      .execute();
    return userById(t.db, id);
  }

  const asAdmin = () => callerFor(inner, admin, { ip: freshIp() });
  const countCodes = async () => (await t.db.selectFrom('redemption_codes').select('id').execute()).length;

  it('creates a batch with its CSV, redeems a code, and shows the usage in the list', async () => {
    const expiresAt = new Date(clock.now() + 7 * 86_400_000);
    const created = await asAdmin().admin.codes.create({
      credits: 120,
      count: 3,
      maxRedemptions: 2,
      expiresAt,
      note: 'Launch week',
    });
    expect(created.codes).toHaveLength(3);
    const lines = created.csv.trimEnd().split('\n');
    expect(lines[0]).toBe('code,credits,max_redemptions,expires_at,batch_id');
    expect(lines.slice(1)).toEqual(
      created.codes.map((code) => `${code},120,2,${expiresAt.toISOString()},${created.batchId}`),
    );

    const user = await makeUser();
    const caller = callerFor(inner, user, { ip: freshIp() });
    const typed = ` ${created.codes[0]!.toLowerCase().replaceAll('-', ' ')} `;
    expect(await caller.redeem.redeem({ code: typed })).toEqual({ credits: 120, balance: 120 });
    expect((await userById(t.db, user.id)).credit_balance).toBe(120);
    expect(await appCodeOf(caller.redeem.redeem({ code: created.codes[0]! }))).toBe('CODE_ALREADY_REDEEMED');

    const { items } = await asAdmin().admin.codes.list({});
    expect(items.find((b) => b.batchId === created.batchId)).toEqual({
      batchId: created.batchId,
      note: 'Launch week',
      credits: 120,
      count: 3,
      maxRedemptions: 2,
      redemptions: 1,
      exhaustedCount: 0,
      disabledCount: 0,
      expiresAt,
      createdAt: new Date(clock.now()),
      createdBy: 'boss@example.com',
    });
  });

  it('disables one code by its plaintext, as pasted from a support ticket', async () => {
    const batch = await asAdmin().admin.codes.create({ credits: 5, count: 2 });
    const [target, spare] = batch.codes as [string, string];
    const typed = target.toLowerCase().replaceAll('-', ' ');
    expect(await asAdmin().admin.codes.disable({ code: typed })).toEqual({ disabled: 1 });
    expect(await appCodeOf(asAdmin().admin.codes.disable({ code: 'ZZZZZ-ZZZZZ-ZZZZZ-ZZZZZ-ZZZZZ' }))).toBe(
      'NOT_FOUND',
    );
    const user = await makeUser();
    expect(await appCodeOf(callerFor(inner, user).redeem.redeem({ code: target }))).toBe('CODE_INVALID');
    await expect(callerFor(inner, user).redeem.redeem({ code: spare })).resolves.toMatchObject({
      credits: 5,
    });
  });

  it('disables a whole batch or one code, after which redeeming is refused with CODE_INVALID', async () => {
    const whole = await asAdmin().admin.codes.create({ credits: 5, count: 4 });
    const other = await asAdmin().admin.codes.create({ credits: 5, count: 2 });
    expect(await asAdmin().admin.codes.disable({ batchId: whole.batchId })).toEqual({ disabled: 4 });
    const codeId = (
      await t.db
        .selectFrom('redemption_codes')
        .select('id')
        .where('batch_id', '=', other.batchId)
        .orderBy('id')
        .execute()
    )[0]!.id;
    expect(await asAdmin().admin.codes.disable({ codeId })).toEqual({ disabled: 1 });
    expect(await appCodeOf(asAdmin().admin.codes.disable({ codeId: 'no-such-code' }))).toBe('NOT_FOUND');
    expect(await appCodeOf(asAdmin().admin.codes.disable({ batchId: 'x', codeId: 'y' } as never))).toBe(
      'VALIDATION',
    );

    const user = await makeUser();
    const caller = callerFor(inner, user, { ip: freshIp() });
    expect(await appCodeOf(caller.redeem.redeem({ code: whole.codes[0]! }))).toBe('CODE_INVALID');
    const outcomes = await Promise.all(
      other.codes.map((code) => appCodeOf(caller.redeem.redeem({ code })).catch(() => 'OK')),
    );
    expect(outcomes.sort()).toEqual(['CODE_INVALID', 'OK']);
    expect((await userById(t.db, user.id)).credit_balance).toBe(5);
    const listed = (await asAdmin().admin.codes.list({ limit: 100 })).items;
    expect(listed.find((b) => b.batchId === whole.batchId)?.disabledCount).toBe(4);
    expect(listed.find((b) => b.batchId === other.batchId)).toMatchObject({
      disabledCount: 1,
      exhaustedCount: 1,
    });
  });

  it('refuses expired and unknown codes with CODE_EXPIRED and CODE_INVALID', async () => {
    const { codes } = await asAdmin().admin.codes.create({
      credits: 5,
      count: 1,
      expiresAt: new Date(clock.now() + 60_000),
    });
    const user = await makeUser();
    const caller = callerFor(inner, user, { ip: freshIp() });
    expect(await appCodeOf(caller.redeem.redeem({ code: 'ZZZZZ-ZZZZZ-ZZZZZ-ZZZZZ-ZZZZZ' }))).toBe(
      'CODE_INVALID',
    );
    clock.advance(60_000);
    expect(await appCodeOf(caller.redeem.redeem({ code: codes[0]! }))).toBe('CODE_EXPIRED');
    expect(await appCodeOf(caller.redeem.redeem({ code: ' - - ' }))).toBe('VALIDATION');
    expect((await userById(t.db, user.id)).credit_balance).toBe(0);
  });

  it('rate limits after 20 failed attempts, even for a valid code, and releases after an hour', async () => {
    const { codes } = await asAdmin().admin.codes.create({ credits: 8, count: 1 });
    const user = await makeUser();
    const caller = callerFor(inner, user, { ip: freshIp() });
    for (let i = 0; i < 20; i++) {
      expect(await appCodeOf(caller.redeem.redeem({ code: `GUESS-${i}` }))).toBe('CODE_INVALID');
    }
    expect(await appCodeOf(caller.redeem.redeem({ code: codes[0]! }))).toBe('RATE_LIMITED');
    expect((await userById(t.db, user.id)).credit_balance).toBe(0);
    clock.advance(60 * 60 * 1000 + 1);
    expect(await caller.redeem.redeem({ code: codes[0]! })).toEqual({ credits: 8, balance: 8 });
  });

  it('forbids admin.codes.* to non-admins and redeem to anonymous callers, writing nothing', async () => {
    const { batchId } = await asAdmin().admin.codes.create({ credits: 5, count: 1 });
    const before = await countCodes();
    const plain = callerFor(inner, await makeUser(), { ip: freshIp() });
    expect(await appCodeOf(plain.admin.codes.create({ credits: 5, count: 10 }))).toBe('FORBIDDEN');
    expect(await appCodeOf(plain.admin.codes.list({}))).toBe('FORBIDDEN');
    expect(await appCodeOf(plain.admin.codes.disable({ batchId }))).toBe('FORBIDDEN');
    expect(await countCodes()).toBe(before);
    const disabled = await t.db
      .selectFrom('redemption_codes')
      .select('id')
      .where('batch_id', '=', batchId)
      .where('disabled_at', 'is not', null)
      .execute();
    expect(disabled).toEqual([]);
    expect(await appCodeOf(callerFor(inner, null).redeem.redeem({ code: 'ANY' }))).toBe('UNAUTHENTICATED');
  });

  it('answers VALIDATION for count 0 or 10001, zero credits or a past expiry, writing nothing', async () => {
    const before = await countCodes();
    const inputs = [
      { credits: 5, count: 0 },
      { credits: 5, count: 10_001 },
      { credits: 0, count: 1 },
      { credits: 5, count: 1, maxRedemptions: 0 },
      { credits: 5, count: 1, expiresAt: new Date(clock.now() - 1) },
      { credits: 5, count: 1, note: 'x'.repeat(201) },
    ];
    for (const input of inputs)
      expect(await appCodeOf(asAdmin().admin.codes.create(input))).toBe('VALIDATION');
    expect(await countCodes()).toBe(before);
  });

  it('pages the batch list newest first', async () => {
    const ids = [];
    for (let i = 0; i < 3; i++)
      ids.push((await asAdmin().admin.codes.create({ credits: 1, count: 1 })).batchId);
    const page1 = await asAdmin().admin.codes.list({ limit: 2 });
    expect(page1.items.map((b) => b.batchId)).toEqual([ids[2], ids[1]]);
    const page2 = await asAdmin().admin.codes.list({ cursor: page1.nextCursor, limit: 2 });
    expect(page2.items[0]?.batchId).toBe(ids[0]);
  });

  describe('over HTTP', () => {
    let server: Awaited<ReturnType<typeof startTestServer>>;
    beforeAll(async () => {
      server = await startTestServer(inner);
    });
    afterAll(() => server?.close());

    it('creates a 10,000-code batch and redeems one of its codes with a real client', async () => {
      const boss = httpClient(server.url);
      await boss.auth.signUp.mutate({ email: 'boss-http@example.com', password: 'sturdy-pass-1' });
      // boss@example.com (the ADMIN_EMAILS account) has no usable password here: promote this one directly.
      await t.db
        .updateTable('users')
        .set({ role: 'admin' })
        .where('email', '=', 'boss-http@example.com')
        .execute();
      const expiresAt = new Date(clock.now() + 86_400_000);
      const created = await boss.admin.codes.create.mutate({ credits: 3, count: 10_000, expiresAt });
      expect(created.codes).toHaveLength(10_000);
      expect(new Set(created.codes).size).toBe(10_000);
      expect(created.csv.trimEnd().split('\n')).toHaveLength(10_001);

      const user = httpClient(server.url);
      await user.auth.signUp.mutate({ email: 'http-user@example.com', password: 'sturdy-pass-1' });
      expect(await user.redeem.redeem.mutate({ code: created.codes[9_999]! })).toEqual({
        credits: 3,
        balance: 3,
      });
      const late = httpClient(server.url);
      await late.auth.signUp.mutate({ email: 'http-late@example.com', password: 'sturdy-pass-1' });
      expect(await appCodeOf(late.redeem.redeem.mutate({ code: created.codes[9_999]! }))).toBe(
        'CODE_EXHAUSTED',
      );
      const batch = (await boss.admin.codes.list.query({})).items.find((b) => b.batchId === created.batchId);
      expect(batch).toMatchObject({ count: 10_000, redemptions: 1, exhaustedCount: 1 });
      expect(batch?.expiresAt).toBeInstanceOf(Date);
      expect(batch?.expiresAt?.getTime()).toBe(expiresAt.getTime());
    });

    it("redeems two codes at once, and one code twice at once, from another app's typed client", async () => {
      const browser = httpClient(server.url);
      await browser.auth.signUp.mutate({ email: 'app-owner@example.com', password: 'sturdy-pass-1' });
      const { token } = await browser.apiTokens.create.mutate({ name: 'my app' });
      const api = createClient({ url: server.url, token });
      const { codes } = await asAdmin().admin.codes.create({ credits: 4, count: 3 });
      const [a, b, c] = codes as [string, string, string];
      // Calls made in the same tick: tRPC's batch link would put them in one request.
      const both = await Promise.all([
        api.redeem.redeem.mutate({ code: a }),
        api.redeem.redeem.mutate({ code: b }),
      ]);
      expect(both.map((r) => r.credits)).toEqual([4, 4]);
      const twice = await Promise.all(
        [c, c].map((code) => api.redeem.redeem.mutate({ code }).then(() => 'OK', appCodeOfError)),
      );
      expect(twice.sort()).toEqual(['CODE_ALREADY_REDEEMED', 'OK']);
      expect(await api.credits.balance.query()).toEqual({ balance: 12 });
    });
  });
});

const appCodeOfError = (error: unknown) => (error as { data?: { appCode?: string } }).data?.appCode;
