import { type Kysely, MysqlAdapter } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  const mysql = db.getExecutor().adapter instanceof MysqlAdapter;
  await db.schema
    .createTable('credit_ledger')
    .addColumn('id', mysql ? 'bigint' : 'integer', (c) => c.primaryKey().autoIncrement())
    .addColumn('user_id', 'varchar(36)', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('amount', 'bigint', (c) => c.notNull())
    .addColumn('kind', 'varchar(16)', (c) => c.notNull())
    .addColumn('job_id', 'varchar(36)')
    .addColumn('redemption_id', 'varchar(36)')
    .addColumn('note', 'varchar(500)')
    .addColumn('balance_after', 'bigint', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('credit_ledger_user_idx')
    .on('credit_ledger')
    .columns(['user_id', 'id'])
    .execute();
  // One charge and one refund per job at most: the database, not memory, guards "exactly once".
  await db.schema
    .createIndex('credit_ledger_job_kind_uq')
    .on('credit_ledger')
    .columns(['job_id', 'kind'])
    .unique()
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('credit_ledger').execute();
}
