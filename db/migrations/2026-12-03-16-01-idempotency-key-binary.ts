import { type Kysely, MysqlAdapter, sql } from 'kysely';

/**
 * jobs.idempotency_key compares byte for byte on MySQL too. Under the database's default collation
 * (utf8mb4_general_ci) `Order-1` and `order-1` were one key: the second request got the first request's
 * job instead of its own, while SQLite (binary) kept them apart. Going from a case-insensitive to a
 * binary unique index can refuse no existing row.
 */
export async function up(db: Kysely<any>): Promise<void> {
  if (!(db.getExecutor().adapter instanceof MysqlAdapter)) return;
  await sql`alter table jobs
    modify idempotency_key varchar(128) character set utf8mb4 collate utf8mb4_bin null`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  if (!(db.getExecutor().adapter instanceof MysqlAdapter)) return;
  await sql`alter table jobs modify idempotency_key varchar(128) null`.execute(db);
}
