import { type Kysely, sql } from 'kysely';

/**
 * users.role now holds only a stored grant (`npm run admin -- grant`); the ADMIN_EMAILS part of the role
 * is computed at each request. Until now every stored `admin` came from ADMIN_EMAILS (there was no other
 * way), so it is reset: a listed address stays admin through the list, an address removed from it does not.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`update users set role = 'user' where role = 'admin'`.execute(db);
}

export async function down(): Promise<void> {}
