import { type Kysely, sql } from 'kysely';

/** Sessions expire after a while without use: last_seen_at, filled with created_at for existing ones. */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('sessions').addColumn('last_seen_at', 'bigint').execute();
  await sql`update sessions set last_seen_at = created_at`.execute(db);
  await db.schema.createIndex('sessions_last_seen_idx').on('sessions').column('last_seen_at').execute();
  await db.schema.createIndex('sessions_expires_idx').on('sessions').column('expires_at').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('sessions_expires_idx').on('sessions').execute();
  await db.schema.dropIndex('sessions_last_seen_idx').on('sessions').execute();
  await db.schema.alterTable('sessions').dropColumn('last_seen_at').execute();
}
