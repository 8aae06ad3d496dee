import type { Kysely, Transaction } from 'kysely';
import { isRetryableTxError } from './dialect.ts';
import type { Database } from './schema.ts';

export type Executor = Kysely<Database> | Transaction<Database>;

/** Runs fn in a transaction, retrying a few times on deadlock / lock-wait / busy errors. */
export async function inTransaction<T>(
  db: Kysely<Database>,
  fn: (trx: Transaction<Database>) => Promise<T>,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    // What the body threw: when the database has already ended the transaction itself (SQLite on a full
    // disk), the rollback that follows fails too ("no transaction is active") and would hide it.
    let failure: { error: unknown } | undefined;
    try {
      return await db.transaction().execute(async (trx) => {
        try {
          return await fn(trx);
        } catch (error) {
          failure = { error };
          throw error;
        }
      });
    } catch (thrown) {
      const error = failure ? failure.error : thrown;
      if (attempt >= 5 || !isRetryableTxError(error)) throw error;
      await new Promise((r) => setTimeout(r, 5 * attempt + Math.random() * 20));
    }
  }
}
