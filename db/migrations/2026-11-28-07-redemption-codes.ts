import type { Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('redemption_codes')
    .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
    .addColumn('batch_id', 'varchar(36)', (c) => c.notNull())
    // SHA-256 (hex) of the normalised code: the plaintext is never stored.
    .addColumn('code_hash', 'varchar(64)', (c) => c.notNull().unique())
    .addColumn('code_prefix', 'varchar(8)', (c) => c.notNull())
    .addColumn('credits', 'bigint', (c) => c.notNull())
    .addColumn('max_redemptions', 'integer', (c) => c.notNull())
    .addColumn('redeemed_count', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('expires_at', 'bigint')
    .addColumn('disabled_at', 'bigint')
    .addColumn('note', 'varchar(200)')
    .addColumn('created_by', 'varchar(36)', (c) => c.notNull().references('users.id'))
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('redemption_codes_batch_idx')
    .on('redemption_codes')
    .column('batch_id')
    .execute();

  await db.schema
    .createTable('redemptions')
    .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
    .addColumn('code_id', 'varchar(36)', (c) => c.notNull().references('redemption_codes.id'))
    .addColumn('user_id', 'varchar(36)', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('credits', 'bigint', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  // One redemption per code and user: the database, not a prior SELECT, has the last word.
  await db.schema
    .createIndex('redemptions_code_user_uq')
    .on('redemptions')
    .columns(['code_id', 'user_id'])
    .unique()
    .execute();
  await db.schema.createIndex('redemptions_user_idx').on('redemptions').column('user_id').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('redemptions').execute();
  await db.schema.dropTable('redemption_codes').execute();
}
