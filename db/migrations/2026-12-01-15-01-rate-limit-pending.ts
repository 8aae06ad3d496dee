import type { Kysely } from 'kysely';

/**
 * An attempt's event is pending (1) while the attempt is being evaluated, and kept (0) once it counts:
 * concurrent attempts near a limit wait for pending ones to settle instead of counting them as failures.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('rate_limit_events')
    .addColumn('pending', 'smallint', (c) => c.notNull().defaultTo(0))
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('rate_limit_events').dropColumn('pending').execute();
}
