import { type Kysely, MysqlAdapter } from 'kysely';

/** Security-relevant events (sign-ins, sign-ups, password changes, admin grants, code batches, tokens). */
export async function up(db: Kysely<any>): Promise<void> {
  const mysql = db.getExecutor().adapter instanceof MysqlAdapter;
  await db.schema
    .createTable('audit_log')
    .addColumn('id', mysql ? 'bigint' : 'integer', (c) => c.primaryKey().autoIncrement())
    .addColumn('action', 'varchar(40)', (c) => c.notNull())
    .addColumn('actor_user_id', 'varchar(36)')
    .addColumn('subject', 'varchar(320)')
    .addColumn('ip', 'varchar(64)')
    .addColumn('detail', 'varchar(1000)')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('audit_log_action_idx').on('audit_log').columns(['action', 'id']).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('audit_log').execute();
}
