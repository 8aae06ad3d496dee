import type { Kysely } from 'kysely';

/**
 * When a worker sent the job's submit to its provider (set just before the request goes out, cleared
 * when the job goes back to the queue): a job found with it set and no task id had its worker die with
 * the submit on the wire, so the provider may hold a task for it, and it is never submitted again.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('jobs').addColumn('submit_sent_at', 'bigint').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('jobs').dropColumn('submit_sent_at').execute();
}
