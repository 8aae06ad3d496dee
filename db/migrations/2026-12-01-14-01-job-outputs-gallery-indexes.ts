import { type Kysely, MysqlAdapter } from 'kysely';

/**
 * Indexes for every gallery filter (issue 14): newest first for a user's live outputs, with or without a
 * kind. With only (user_id, id), "Videos" for a user with many images and few videos read the user's rows
 * one by one to test kind and deleted_at; here each filter is one index range in id order.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createIndex('job_outputs_user_live_idx')
    .on('job_outputs')
    .columns(['user_id', 'deleted_at', 'id'])
    .execute();
  await db.schema
    .createIndex('job_outputs_user_kind_idx')
    .on('job_outputs')
    .columns(['user_id', 'deleted_at', 'kind', 'id'])
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  const mysql = db.getExecutor().adapter instanceof MysqlAdapter;
  for (const name of ['job_outputs_user_kind_idx', 'job_outputs_user_live_idx']) {
    const drop = db.schema.dropIndex(name);
    await (mysql ? drop.on('job_outputs') : drop).execute();
  }
}
