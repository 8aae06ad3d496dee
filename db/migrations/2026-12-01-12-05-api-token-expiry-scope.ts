import type { Kysely } from 'kysely';

/** API tokens: an optional expiry, and a scope (`user`, or `admin` when an admin asked for it explicitly). */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('api_tokens').addColumn('expires_at', 'bigint').execute();
  await db.schema
    .alterTable('api_tokens')
    .addColumn('scope', 'varchar(16)', (c) => c.notNull().defaultTo('user'))
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('api_tokens').dropColumn('scope').execute();
  await db.schema.alterTable('api_tokens').dropColumn('expires_at').execute();
}
