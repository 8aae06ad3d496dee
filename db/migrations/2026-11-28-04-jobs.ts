import type { Kysely } from 'kysely';
import { MysqlAdapter } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  const json = db.getExecutor().adapter instanceof MysqlAdapter ? 'json' : 'text';
  await db.schema
    .createTable('jobs')
    .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
    .addColumn('user_id', 'varchar(36)', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('kind', 'varchar(8)', (c) => c.notNull())
    .addColumn('status', 'varchar(16)', (c) => c.notNull())
    .addColumn('stage', 'varchar(16)', (c) => c.notNull())
    .addColumn('progress', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('status_sequence', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('model', 'varchar(64)', (c) => c.notNull())
    .addColumn('provider', 'varchar(32)', (c) => c.notNull())
    .addColumn('prompt', 'text', (c) => c.notNull())
    .addColumn('params', json, (c) => c.notNull())
    .addColumn('cost', 'bigint', (c) => c.notNull())
    .addColumn('refunded', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('provider_task_id', 'varchar(2048)')
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('lease_owner', 'varchar(64)')
    .addColumn('lease_until', 'bigint')
    .addColumn('next_attempt_at', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('idempotency_key', 'varchar(128)')
    .addColumn('request_hash', 'varchar(64)')
    .addColumn('error_code', 'varchar(32)')
    .addColumn('error_message', 'varchar(1000)')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('started_at', 'bigint')
    .addColumn('finished_at', 'bigint')
    .execute();
  await db.schema.createIndex('jobs_user_idx').on('jobs').columns(['user_id', 'id']).execute();
  await db.schema.createIndex('jobs_claim_idx').on('jobs').columns(['status', 'next_attempt_at']).execute();
  await db.schema
    .createIndex('jobs_idempotency_uq')
    .on('jobs')
    .columns(['user_id', 'idempotency_key'])
    .unique()
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('jobs').execute();
}
