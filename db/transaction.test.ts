import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDb, type TestDb } from '../test/db.ts';
import { inTransaction } from './transaction.ts';

describe('inTransaction', () => {
  let t: TestDb;
  beforeAll(async () => {
    t = await createTestDb('sqlite');
  });
  afterAll(() => t.destroy());

  it('throws what the body threw when the database had already ended the transaction', async () => {
    // As SQLite does on a full disk: the statement fails and the transaction is gone before our rollback.
    const error = await inTransaction(t.db, async (trx) => {
      await sql`rollback`.execute(trx);
      throw new Error('SQLITE_FULL: database or disk is full');
    }).catch((e: unknown) => e as Error);
    expect(error.message).toBe('SQLITE_FULL: database or disk is full');
    // The connection is usable afterwards.
    expect(
      await inTransaction(
        t.db,
        async (trx) => (await sql<{ one: number }>`select 1 as one`.execute(trx)).rows[0]?.one,
      ),
    ).toBe(1);
  });

  it('throws what the commit threw, not the failed rollback after it', async () => {
    // The transaction ends inside the body, which returns: the COMMIT fails, and so does the rollback.
    const outcome = await inTransaction(t.db, async (trx) => {
      await sql`rollback`.execute(trx);
      return 'committed';
    }).catch((e: unknown) => (e as Error).message);
    expect(outcome).toMatch(/cannot commit/);
    expect(
      await inTransaction(
        t.db,
        async (trx) => (await sql<{ n: number }>`select 2 as n`.execute(trx)).rows[0]?.n,
      ),
    ).toBe(2);
  });
});
