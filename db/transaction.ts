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
    try {
      return await db.transaction().execute(fn);
    } catch (error) {
      if (attempt >= 5 || !isRetryableTxError(error)) throw error;
      await new Promise((r) => setTimeout(r, 5 * attempt + Math.random() * 20));
    }
  }
}
