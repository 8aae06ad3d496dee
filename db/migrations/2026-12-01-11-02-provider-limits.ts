import type { Kysely } from 'kysely';

/**
 * Provider account limits shared by every worker process: one row per provider operation (e.g.
 * `dashscope:submit`) holding the earliest time the next request may go out (a GCRA "theoretical
 * arrival time"), moved forward with a guarded UPDATE.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('provider_limits')
    .addColumn('name', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('next_at', 'bigint', (c) => c.notNull().defaultTo(0))
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('provider_limits').execute();
}
