import type { Kysely } from 'kysely';

/** Named leases so one process at a time runs a periodic task (the housekeeping sweep). */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('locks')
    .addColumn('name', 'varchar(100)', (c) => c.primaryKey())
    .addColumn('owner', 'varchar(200)', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('locks').execute();
}
