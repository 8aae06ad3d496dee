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
});
