import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AppError } from '../../shared/errors.ts';
import { createTestDb, DIALECTS, ledgerMismatches, type TestDb } from '../../test/db.ts';
import { chargeCredits, grantCredits, refundCredits } from './billing.ts';
import { newId } from './ids.ts';

async function makeUser(t: TestDb, balance = 0): Promise<string> {
  const id = newId();
  await t.db
    .insertInto('users')
    .values({
      id,
      email: `${id}@example.com`,
      password_hash: 'x',
      role: 'user',
      credit_balance: 0,
      created_at: 1,
    })
    .execute();
  if (balance > 0) await grantCredits(t.db, { userId: id, amount: balance, now: 1 });
  return id;
}

describe.each(DIALECTS)('billing on %s', (dialect) => {
  let t: TestDb;
  beforeAll(async () => {
    t = await createTestDb(dialect);
  });
  afterAll(() => t?.destroy());

  it('keeps SUM(ledger.amount) equal to the balance after a random sequence of movements', async () => {
    const users = await Promise.all([makeUser(t), makeUser(t), makeUser(t)]);
    let seed = 42;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return Math.floor(seed / 65536) % n;
    };
    let refused = 0;
    for (let i = 0; i < 150; i++) {
      const userId = users[rand(users.length)]!;
      const op = rand(3);
      const amount = 1 + rand(op === 1 ? 120 : 40);
      try {
        if (op === 0) await grantCredits(t.db, { userId, amount, now: i });
        else if (op === 1) await chargeCredits(t.db, { userId, amount, now: i });
        else await refundCredits(t.db, { userId, amount, now: i });
      } catch (error) {
        expect((error as AppError).code).toBe('INSUFFICIENT_CREDITS');
        refused++;
      }
    }
    expect(refused).toBeGreaterThan(0);
    expect(await ledgerMismatches(t.db)).toEqual([]);
    for (const u of await t.db.selectFrom('users').select('credit_balance').execute()) {
      expect(Number(u.credit_balance)).toBeGreaterThanOrEqual(0);
    }
  });

  it('lets exactly 37 of 100 concurrent charges through a balance that covers 37', async () => {
    const userId = await makeUser(t, 37 * 3);
    const results = await Promise.allSettled(
      Array.from({ length: 100 }, (_, i) => chargeCredits(t.db, { userId, amount: 3, now: 1000 + i })),
    );
    const ok = results.filter((r) => r.status === 'fulfilled');
    const failed = results.filter((r) => r.status === 'rejected');
    expect(ok).toHaveLength(37);
    for (const f of failed)
      expect(((f as PromiseRejectedResult).reason as AppError).code).toBe('INSUFFICIENT_CREDITS');
    const user = await t.db
      .selectFrom('users')
      .select('credit_balance')
      .where('id', '=', userId)
      .executeTakeFirstOrThrow();
    expect(Number(user.credit_balance)).toBe(0);
    const balances = ok.map((r) => (r as PromiseFulfilledResult<{ balance: number }>).value.balance);
    expect(Math.min(...balances)).toBe(0);
    const charges = await t.db
      .selectFrom('credit_ledger')
      .select('amount')
      .where('user_id', '=', userId)
      .where('kind', '=', 'charge')
      .execute();
    expect(charges).toHaveLength(37);
  });

  it('refuses zero, negative and fractional amounts without writing', async () => {
    const userId = await makeUser(t, 10);
    for (const amount of [0, -5, 1.5]) {
      await expect(grantCredits(t.db, { userId, amount, now: 1 })).rejects.toMatchObject({
        code: 'VALIDATION',
      });
      await expect(chargeCredits(t.db, { userId, amount, now: 1 })).rejects.toMatchObject({
        code: 'VALIDATION',
      });
    }
    const rows = await t.db.selectFrom('credit_ledger').select('id').where('user_id', '=', userId).execute();
    expect(rows).toHaveLength(1);
  });

  it('lets the database refuse a second refund row for the same job', async () => {
    const userId = await makeUser(t, 10);
    const jobId = newId();
    await refundCredits(t.db, { userId, amount: 2, jobId, now: 1 });
    await expect(refundCredits(t.db, { userId, amount: 2, jobId, now: 2 })).rejects.toThrow();
    const user = await t.db
      .selectFrom('users')
      .select('credit_balance')
      .where('id', '=', userId)
      .executeTakeFirstOrThrow();
    expect(Number(user.credit_balance)).toBe(12);
  });
});
