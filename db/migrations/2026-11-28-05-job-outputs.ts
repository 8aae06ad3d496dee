import { type Kysely, MysqlAdapter } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  const json = db.getExecutor().adapter instanceof MysqlAdapter ? 'json' : 'text';
  await db.schema
    .createTable('job_outputs')
    .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
    .addColumn('job_id', 'varchar(36)', (c) => c.notNull().references('jobs.id').onDelete('cascade'))
    .addColumn('user_id', 'varchar(36)', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('kind', 'varchar(8)', (c) => c.notNull())
    .addColumn('oss_url', 'varchar(2048)', (c) => c.notNull())
    .addColumn('oss_path', 'varchar(512)', (c) => c.notNull().unique())
    .addColumn('size', 'bigint', (c) => c.notNull())
    .addColumn('content_type', 'varchar(64)', (c) => c.notNull())
    .addColumn('sha256', 'varchar(64)', (c) => c.notNull())
    .addColumn('meta', json, (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('deleted_at', 'bigint')
    .execute();
  await db.schema.createIndex('job_outputs_job_idx').on('job_outputs').column('job_id').execute();
  await db.schema.createIndex('job_outputs_user_idx').on('job_outputs').columns(['user_id', 'id']).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('job_outputs').execute();
}
