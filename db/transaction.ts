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
      return await once(db, fn);
    } catch (error) {
      if (attempt >= 5 || !isRetryableTxError(error)) throw error;
      await new Promise((r) => setTimeout(r, 5 * attempt + Math.random() * 20));
    }
  }
}

/**
 * One attempt. It throws what went wrong, the body's error or the commit's: when the database has already
 * ended the transaction itself (SQLite on a full disk, a lost connection), the rollback that follows fails
 * too ("no transaction is active") and must not hide it. The connection is released either way.
 */
async function once<T>(db: Kysely<Database>, fn: (trx: Transaction<Database>) => Promise<T>): Promise<T> {
  const trx = await db.startTransaction().execute();
  let result: T;
  try {
    result = await fn(trx);
    await trx.commit().execute();
  } catch (error) {
    await trx
      .rollback()
      .execute()
      .catch(() => undefined);
    throw error;
  }
  return result;
}
