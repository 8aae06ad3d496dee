import type { Kysely } from 'kysely';

/**
 * Indexes for the step-based runner: fair claims of queued jobs per user (status, user_id,
 * next_attempt_at), due polls of running jobs (status, next_attempt_at already exists) and one lease
 * renewal per process (lease_owner).
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createIndex('jobs_user_queue_idx')
    .on('jobs')
    .columns(['status', 'user_id', 'next_attempt_at'])
    .execute();
  await db.schema.createIndex('jobs_lease_owner_idx').on('jobs').columns(['lease_owner']).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('jobs_lease_owner_idx').on('jobs').execute();
  await db.schema.dropIndex('jobs_user_queue_idx').on('jobs').execute();
}
