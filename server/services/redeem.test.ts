import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AppError } from '../../shared/errors.ts';
import { createTestDb, DIALECTS, ledgerMismatches, type TestDb } from '../../test/db.ts';
import { newId } from './ids.ts';
import { createCodeBatch, disableCodes, hashCode, listBatches, REDEEM_LIMIT, redeemCode } from './redeem.ts';

const NOW = Date.UTC(2026, 10, 28, 12);
const CODE_FORMAT = /^[23456789A-HJ-NP-Z]{5}(-[23456789A-HJ-NP-Z]{5}){4}$/;

describe.each(DIALECTS)('redemption codes on %s', (dialect) => {
  let t: TestDb;
  let adminId: string;
  let ipCounter = 0;
  /** A fresh IP per scenario, so one test's failures never rate limit another's. */
  const freshIp = () => `198.51.100.${++ipCounter}`;

  beforeAll(async () => {
    t = await createTestDb(dialect);
    adminId = await makeUser('admin');
  });
  afterAll(() => t?.destroy());

  async function makeUser(role: 'user' | 'admin' = 'user'): Promise<string> {
    const id = newId();
    await t.db
      .insertInto('users')
      .values({ id, email: `${id}@example.com`, password_hash: 'x', role, credit_balance: 0, created_at: 1 })
      .execute();
    return id;
  }

  const batch = (input: { credits?: number; count?: number; maxRedemptions?: number; expiresAt?: Date }) =>
    createCodeBatch(t.db, { credits: 50, count: 1, ...input, createdBy: adminId, now: NOW });

  const balanceOf = async (userId: string) =>
    Number(
      (
        await t.db
          .selectFrom('users')
          .select('credit_balance')
          .where('id', '=', userId)
          .executeTakeFirstOrThrow()
      ).credit_balance,
    );

  const codeRow = (code: string) =>
    t.db
      .selectFrom('redemption_codes')
      .selectAll()
      .where('code_hash', '=', hashCode(code))
      .executeTakeFirstOrThrow();

  const failureCode = async (promise: Promise<unknown>) => {
    try {
      await promise;
    } catch (error) {
      return (error as AppError).code;
    }
    return 'OK';
  };

  async function expectLedgerInvariant() {
    expect(await ledgerMismatches(t.db)).toEqual([]);
  }

  it('creates readable codes with over 100 random bits, stored only as a hash and a 4-character prefix', async () => {
    const { batchId, codes } = await batch({ count: 200 });
    expect(codes).toHaveLength(200);
    expect(new Set(codes).size).toBe(200);
    for (const code of codes) expect(code).toMatch(CODE_FORMAT);
    const rows = await t.db
      .selectFrom('redemption_codes')
      .selectAll()
      .where('batch_id', '=', batchId)
      .execute();
    expect(rows).toHaveLength(200);
    const byHash = new Map(rows.map((r) => [r.code_hash, r]));
    for (const code of codes) {
      const row = byHash.get(createHash('sha256').update(code.replaceAll('-', '')).digest('hex'));
      expect(row?.code_prefix).toBe(code.slice(0, 4));
    }
    // Every column of every row, searched for each plaintext code with and without its dashes.
    const stored = (await t.db.selectFrom('redemption_codes').selectAll().execute())
      .flatMap((r) => Object.values(r).map((v) => String(v).toUpperCase()))
      .join('\n');
    for (const code of codes) {
      expect(stored).not.toContain(code);
      expect(stored).not.toContain(code.replaceAll('-', ''));
      expect(stored).not.toContain(code.replaceAll('-', '').slice(0, 10));
    }
  });

  it('credits a redemption once, with one redeem ledger row pointing at the redemption', async () => {
    const { codes } = await batch({ credits: 70 });
    const userId = await makeUser();
    const result = await redeemCode(t.db, { userId, code: codes[0]!, ip: freshIp(), now: NOW });
    expect(result).toEqual({ credits: 70, balance: 70 });
    const redemption = await t.db
      .selectFrom('redemptions')
      .selectAll()
      .where('user_id', '=', userId)
      .executeTakeFirstOrThrow();
    const ledger = await t.db.selectFrom('credit_ledger').selectAll().where('user_id', '=', userId).execute();
    expect(ledger).toMatchObject([{ kind: 'redeem', amount: 70, redemption_id: redemption.id }]);
    expect((await codeRow(codes[0]!)).redeemed_count).toBe(1);
  });

  it('lets exactly one of 50 concurrent users redeem a single-use code', async () => {
    const { codes } = await batch({ credits: 30 });
    const code = codes[0]!;
    const users = await Promise.all(Array.from({ length: 50 }, () => makeUser()));
    const outcomes = await Promise.all(
      users.map((userId) => failureCode(redeemCode(t.db, { userId, code, ip: freshIp(), now: NOW }))),
    );
    expect(outcomes.filter((o) => o === 'OK')).toHaveLength(1);
    expect(outcomes.filter((o) => o === 'CODE_EXHAUSTED')).toHaveLength(49);
    const balances = await Promise.all(users.map(balanceOf));
    expect(balances.filter((b) => b === 30)).toHaveLength(1);
    expect(balances.filter((b) => b === 0)).toHaveLength(49);
    const redeemRows = await t.db
      .selectFrom('credit_ledger')
      .select('id')
      .where('kind', '=', 'redeem')
      .where('user_id', 'in', users)
      .execute();
    expect(redeemRows).toHaveLength(1);
    expect((await codeRow(code)).redeemed_count).toBe(1);
    await expectLedgerInvariant();
  });

  it('lets exactly 5 of 20 concurrent users redeem a code with maxRedemptions 5', async () => {
    const { codes } = await batch({ credits: 10, maxRedemptions: 5 });
    const code = codes[0]!;
    const users = await Promise.all(Array.from({ length: 20 }, () => makeUser()));
    const outcomes = await Promise.all(
      users.map((userId) => failureCode(redeemCode(t.db, { userId, code, ip: freshIp(), now: NOW }))),
    );
    expect(outcomes.filter((o) => o === 'OK')).toHaveLength(5);
    expect(outcomes.filter((o) => o === 'CODE_EXHAUSTED')).toHaveLength(15);
    expect((await Promise.all(users.map(balanceOf))).reduce((a, b) => a + b, 0)).toBe(50);
    const redemptions = await t.db
      .selectFrom('redemptions')
      .select('id')
      .where('code_id', '=', (await codeRow(code)).id)
      .execute();
    expect(redemptions).toHaveLength(5);
    expect((await codeRow(code)).redeemed_count).toBe(5);
    await expectLedgerInvariant();
  });

  it('refuses the same user twice with CODE_ALREADY_REDEEMED and credits once', async () => {
    const { codes } = await batch({ credits: 25, maxRedemptions: 10 });
    const userId = await makeUser();
    const ip = freshIp();
    await redeemCode(t.db, { userId, code: codes[0]!, ip, now: NOW });
    expect(await failureCode(redeemCode(t.db, { userId, code: codes[0]!, ip, now: NOW + 1 }))).toBe(
      'CODE_ALREADY_REDEEMED',
    );
    expect(await balanceOf(userId)).toBe(25);
    expect((await codeRow(codes[0]!)).redeemed_count).toBe(1);
  });

  // One user racing themselves: on a multi-use code the unique (code, user) pair decides; on a single-use
  // code the losers find it used up and are answered as a second try would be. Tried three times each.
  it.each([
    { code: 'a multi-use code', maxRedemptions: 10, credits: 15, tries: 8 },
    { code: 'a single-use code', maxRedemptions: 1, credits: 12, tries: 6 },
  ])(
    'credits a user racing themselves on $code once, the others CODE_ALREADY_REDEEMED',
    async ({ maxRedemptions, credits, tries }) => {
      for (let attempt = 0; attempt < 3; attempt++) {
        const { codes } = await batch({ credits, maxRedemptions });
        const userId = await makeUser();
        const outcomes = await Promise.all(
          Array.from({ length: tries }, () =>
            failureCode(redeemCode(t.db, { userId, code: codes[0]!, ip: freshIp(), now: NOW })),
          ),
        );
        expect(outcomes.filter((o) => o === 'OK')).toHaveLength(1);
        expect(outcomes.filter((o) => o === 'CODE_ALREADY_REDEEMED')).toHaveLength(tries - 1);
        expect(await balanceOf(userId)).toBe(credits);
        // The losers' increments were rolled back with their transactions.
        expect((await codeRow(codes[0]!)).redeemed_count).toBe(1);
      }
      await expectLedgerInvariant();
    },
  );

  it('refuses an expired code with CODE_EXPIRED, and accepts it until the expiry instant', async () => {
    const { codes } = await batch({ count: 2, expiresAt: new Date(NOW + 60_000) });
    const [early, late] = [await makeUser(), await makeUser()];
    await expect(
      redeemCode(t.db, { userId: early, code: codes[0]!, ip: freshIp(), now: NOW + 59_999 }),
    ).resolves.toMatchObject({
      credits: 50,
    });
    expect(
      await failureCode(
        redeemCode(t.db, { userId: late, code: codes[1]!, ip: freshIp(), now: NOW + 60_000 }),
      ),
    ).toBe('CODE_EXPIRED');
    expect(await balanceOf(late)).toBe(0);
    expect((await codeRow(codes[1]!)).redeemed_count).toBe(0);
  });

  it('refuses a code of a disabled batch and a single disabled code with CODE_INVALID', async () => {
    const whole = await batch({ count: 3 });
    const single = await batch({ count: 2 });
    expect(await disableCodes(t.db, { batchId: whole.batchId, now: NOW })).toEqual({ disabled: 3 });
    expect(await disableCodes(t.db, { batchId: whole.batchId, now: NOW })).toEqual({ disabled: 0 });
    const target = await codeRow(single.codes[0]!);
    expect(await disableCodes(t.db, { codeId: target.id, now: NOW })).toEqual({ disabled: 1 });
    const userId = await makeUser();
    const ip = freshIp();
    expect(await failureCode(redeemCode(t.db, { userId, code: whole.codes[2]!, ip, now: NOW }))).toBe(
      'CODE_INVALID',
    );
    expect(await failureCode(redeemCode(t.db, { userId, code: single.codes[0]!, ip, now: NOW }))).toBe(
      'CODE_INVALID',
    );
    expect(await balanceOf(userId)).toBe(0);
    // The other code of the second batch still works.
    await expect(redeemCode(t.db, { userId, code: single.codes[1]!, ip, now: NOW })).resolves.toMatchObject({
      balance: 50,
    });
  });

  it('answers NOT_FOUND when disabling a batch or code that does not exist', async () => {
    expect(await failureCode(disableCodes(t.db, { batchId: newId(), now: NOW }))).toBe('NOT_FOUND');
    expect(await failureCode(disableCodes(t.db, { codeId: newId(), now: NOW }))).toBe('NOT_FOUND');
  });

  it('refuses an unknown code with CODE_INVALID', async () => {
    const userId = await makeUser();
    expect(
      await failureCode(
        redeemCode(t.db, { userId, code: 'ABCDE-FGHJK-LMNPQ-RSTUV-WXYZ2', ip: freshIp(), now: NOW }),
      ),
    ).toBe('CODE_INVALID');
    expect(await balanceOf(userId)).toBe(0);
  });

  it('accepts a code typed in lower case, with spaces or full-width characters instead of dashes', async () => {
    const { codes } = await batch({ count: 3, credits: 1 });
    const userIds = [await makeUser(), await makeUser(), await makeUser()];
    const typed = [
      codes[0]!.toLowerCase(),
      ` ${codes[1]!.replaceAll('-', ' ').toLowerCase()} `,
      // What a Chinese input method in full-width mode produces.
      [...codes[2]!].map((c) => String.fromCharCode(c.charCodeAt(0) + 0xfee0)).join(''),
    ];
    for (const [i, code] of typed.entries()) {
      await expect(redeemCode(t.db, { userId: userIds[i]!, code, ip: freshIp(), now: NOW })).resolves.toEqual(
        {
          credits: 1,
          balance: 1,
        },
      );
    }
  });

  it('rate limits a user after 20 failed attempts, even for a valid code, and releases after the window', async () => {
    const { codes } = await batch({ credits: 5 });
    const userId = await makeUser();
    for (let i = 0; i < REDEEM_LIMIT.limit; i++) {
      expect(
        await failureCode(
          redeemCode(t.db, { userId, code: `WRONG-GUESS-${i}`, ip: freshIp(), now: NOW + i }),
        ),
      ).toBe('CODE_INVALID');
    }
    expect(
      await failureCode(redeemCode(t.db, { userId, code: codes[0]!, ip: freshIp(), now: NOW + 100 })),
    ).toBe('RATE_LIMITED');
    expect(await balanceOf(userId)).toBe(0);
    expect((await codeRow(codes[0]!)).redeemed_count).toBe(0);
    // An hour after the first failures, they have left the window.
    await expect(
      redeemCode(t.db, { userId, code: codes[0]!, ip: freshIp(), now: NOW + REDEEM_LIMIT.windowMs + 100 }),
    ).resolves.toEqual({ credits: 5, balance: 5 });
  });

  it('rate limits an IP after 20 failed attempts across different users', async () => {
    const { codes } = await batch({ credits: 5 });
    const ip = freshIp();
    for (let i = 0; i < REDEEM_LIMIT.limit; i++) {
      const userId = await makeUser();
      expect(await failureCode(redeemCode(t.db, { userId, code: `NOPE${i}`, ip, now: NOW }))).toBe(
        'CODE_INVALID',
      );
    }
    const fresh = await makeUser();
    expect(await failureCode(redeemCode(t.db, { userId: fresh, code: codes[0]!, ip, now: NOW }))).toBe(
      'RATE_LIMITED',
    );
    // The same user from another address is not limited: the IP bucket was the one that filled.
    await expect(
      redeemCode(t.db, { userId: fresh, code: codes[0]!, ip: freshIp(), now: NOW }),
    ).resolves.toEqual({
      credits: 5,
      balance: 5,
    });
  });

  it('counts guesses, not successes, replays or lost races, so a sold-out promo code locks nobody out', async () => {
    const { codes } = await batch({ count: 25, credits: 1 });
    const userId = await makeUser();
    const ip = freshIp();
    // 25 successes and 25 replays of used codes leave the buckets empty...
    for (const code of codes) await redeemCode(t.db, { userId, code, ip, now: NOW });
    for (const code of codes) {
      expect(await failureCode(redeemCode(t.db, { userId, code, ip, now: NOW }))).toBe(
        'CODE_ALREADY_REDEEMED',
      );
    }
    const { codes: more } = await batch({ credits: 1 });
    await expect(redeemCode(t.db, { userId, code: more[0]!, ip, now: NOW })).resolves.toMatchObject({
      credits: 1,
    });
    // ...while 20 guesses fill them.
    for (let i = 0; i < REDEEM_LIMIT.limit; i++) {
      expect(await failureCode(redeemCode(t.db, { userId, code: `GUESS${i}`, ip, now: NOW }))).toBe(
        'CODE_INVALID',
      );
    }
    const { codes: last } = await batch({ credits: 1 });
    expect(await failureCode(redeemCode(t.db, { userId, code: last[0]!, ip: freshIp(), now: NOW }))).toBe(
      'RATE_LIMITED',
    );
    expect(await balanceOf(userId)).toBe(26);
  });

  it('lists batches newest first with usage counts, paged by cursor', async () => {
    const first = await createCodeBatch(t.db, {
      credits: 9,
      count: 4,
      maxRedemptions: 2,
      note: 'older',
      createdBy: adminId,
      now: NOW,
    });
    const second = await createCodeBatch(t.db, {
      credits: 3,
      count: 3,
      expiresAt: new Date(NOW + 86_400_000),
      note: 'newer',
      createdBy: adminId,
      now: NOW + 1,
    });
    const [u1, u2] = [await makeUser(), await makeUser()];
    await redeemCode(t.db, { userId: u1, code: first.codes[0]!, ip: null, now: NOW });
    await redeemCode(t.db, { userId: u2, code: first.codes[0]!, ip: null, now: NOW });
    await redeemCode(t.db, { userId: u1, code: first.codes[1]!, ip: null, now: NOW });
    await disableCodes(t.db, { codeId: (await codeRow(first.codes[3]!)).id, now: NOW });

    const page1 = await listBatches(t.db, { limit: 1 });
    expect(page1.items).toHaveLength(1);
    expect(page1.items[0]).toMatchObject({
      batchId: second.batchId,
      note: 'newer',
      credits: 3,
      count: 3,
      maxRedemptions: 1,
      redemptions: 0,
      exhaustedCount: 0,
      disabledCount: 0,
      expiresAt: new Date(NOW + 86_400_000),
      createdAt: new Date(NOW + 1),
      createdBy: `${adminId}@example.com`,
    });
    expect(page1.nextCursor).toBe(second.batchId);
    const page2 = await listBatches(t.db, { cursor: page1.nextCursor, limit: 1 });
    expect(page2.items[0]).toMatchObject({
      batchId: first.batchId,
      note: 'older',
      count: 4,
      maxRedemptions: 2,
      redemptions: 3,
      exhaustedCount: 1,
      disabledCount: 1,
      expiresAt: null,
    });
  });

  it('refuses out-of-range batches and a past expiry without writing', async () => {
    const before = (await t.db.selectFrom('redemption_codes').select('id').execute()).length;
    for (const input of [
      { count: 0 },
      { count: 10_001 },
      { credits: 0 },
      { maxRedemptions: 0 },
      { expiresAt: new Date(NOW) },
    ]) {
      expect(await failureCode(batch(input))).toBe('VALIDATION');
    }
    expect((await t.db.selectFrom('redemption_codes').select('id').execute()).length).toBe(before);
  });

  it('keeps SUM(ledger.amount) equal to every balance after all of the above', async () => {
    await expectLedgerInvariant();
    const orphanRedemptions = await t.db
      .selectFrom('redemptions')
      .leftJoin('credit_ledger', 'credit_ledger.redemption_id', 'redemptions.id')
      .select('redemptions.id')
      .where('credit_ledger.id', 'is', null)
      .execute();
    expect(orphanRedemptions).toEqual([]);
  });
});
