import { randomBytes } from 'node:crypto';
import { type Kysely, sql } from 'kysely';
import { createConnection } from 'mysql2/promise';
import { connect } from '../db/connect.ts';
import { migrateToLatest } from '../db/migrate.ts';
import type { Database } from '../db/schema.ts';

/** Where MySQL tests connect (server root, no database): MariaDB on this machine by default. */
export const MYSQL_ROOT_URL = process.env.TEST_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306';

async function mysqlAnswers(): Promise<boolean> {
  try {
    const c = await createConnection({ uri: MYSQL_ROOT_URL, connectTimeout: 2000 });
    await c.end();
    return true;
  } catch {
    return false;
  }
}

const mysqlUp = await mysqlAnswers();
if (!mysqlUp) {
  if (process.env.CI === 'true') throw new Error(`CI=true but MySQL does not answer at ${MYSQL_ROOT_URL}`);
  console.warn(`[test] MySQL not reachable at ${MYSQL_ROOT_URL}: MySQL variants of the tests are skipped.`);
}

/** The dialects every database test runs on: SQLite always, MySQL when it answers (always under CI). */
export const DIALECTS: ('sqlite' | 'mysql')[] = mysqlUp ? ['sqlite', 'mysql'] : ['sqlite'];

export interface TestDb {
  db: Kysely<Database>;
  /** A DATABASE_URL another process can use to reach the same database. */
  url: string;
  destroy(): Promise<void>;
}

/** A fresh, migrated database: SQLite in a temp file (shareable with a child process) or a new MySQL database. */
export async function createTestDb(
  dialect: 'sqlite' | 'mysql',
  options: { file?: string } = {},
): Promise<TestDb> {
  if (dialect === 'mysql') {
    const name = `df_test_${Date.now()}_${randomBytes(4).toString('hex')}`;
    const admin = await createConnection({ uri: MYSQL_ROOT_URL });
    await admin.query(`CREATE DATABASE \`${name}\``);
    await admin.end();
    const url = `${MYSQL_ROOT_URL}/${name}`;
    const db = connect({ databaseUrl: url, dataDir: '' });
    await migrateToLatest(db);
    return {
      db,
      url,
      destroy: async () => {
        await db.destroy();
        const c = await createConnection({ uri: MYSQL_ROOT_URL });
        await c.query(`DROP DATABASE IF EXISTS \`${name}\``);
        await c.end();
      },
    };
  }
  const file = options.file ?? ':memory:';
  const url = `sqlite:${file}`;
  const db = connect({ databaseUrl: url, dataDir: '' });
  await migrateToLatest(db);
  return { db, url, destroy: () => db.destroy() };
}

/**
 * The money invariant: for every user (or the given ones), SUM(credit_ledger.amount) = credit_balance.
 * Returns the users where it does not hold, so a test can `expect(...).toEqual([])`.
 */
export async function ledgerMismatches(
  db: Kysely<Database>,
  userIds?: string[],
): Promise<{ userId: string; balance: number; ledgerSum: number }[]> {
  let query = db
    .selectFrom('users')
    .leftJoin('credit_ledger', 'credit_ledger.user_id', 'users.id')
    .select(['users.id', 'users.credit_balance'])
    .select(sql<number>`coalesce(sum(credit_ledger.amount), 0)`.as('total'))
    .groupBy(['users.id', 'users.credit_balance']);
  if (userIds) query = query.where('users.id', 'in', userIds);
  const rows = await query.execute();
  return rows
    .map((r) => ({ userId: r.id, balance: Number(r.credit_balance), ledgerSum: Number(r.total) }))
    .filter((r) => r.balance !== r.ledgerSum);
}
