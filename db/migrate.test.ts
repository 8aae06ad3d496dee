import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type Kysely, sql } from 'kysely';
import { Migrator } from 'kysely/migration';
import { createConnection } from 'mysql2/promise';
import { describe, expect, it } from 'vitest';
import { DIALECTS, MYSQL_ROOT_URL } from '../test/db.ts';
import { connect } from './connect.ts';
import { migrateToLatest, migrationStatus } from './migrate.ts';
import { migrations } from './migrations/index.ts';

/** An empty database of the dialect, and a way to drop it. */
async function emptyDb(dialect: 'sqlite' | 'mysql') {
  if (dialect === 'mysql') {
    const name = `df_test_mig_${Date.now()}_${randomBytes(4).toString('hex')}`;
    const admin = await createConnection({ uri: MYSQL_ROOT_URL });
    await admin.query(`CREATE DATABASE \`${name}\``);
    await admin.end();
    const db = connect({ databaseUrl: `${MYSQL_ROOT_URL}/${name}`, dataDir: '' });
    return {
      db,
      drop: async () => {
        await db.destroy();
        const c = await createConnection({ uri: MYSQL_ROOT_URL });
        await c.query(`DROP DATABASE IF EXISTS \`${name}\``);
        await c.end();
      },
    };
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'df-migrate-'));
  const db = connect({ databaseUrl: `sqlite:${path.join(dir, 'db.sqlite')}`, dataDir: '' });
  return { db, drop: () => db.destroy() };
}

/** Every table's definition, as the database states it. */
async function schemaOf(db: Kysely<any>, dialect: 'sqlite' | 'mysql'): Promise<string[]> {
  if (dialect === 'sqlite') {
    const rows = await sql<{
      sql: string;
    }>`select sql from sqlite_master where sql is not null order by name`.execute(db);
    return rows.rows.map((r) => r.sql);
  }
  const tables = await sql<Record<string, string>>`show tables`.execute(db);
  const out: string[] = [];
  for (const name of tables.rows.map((r) => Object.values(r)[0]!).sort()) {
    const created = await sql<Record<string, string>>`show create table ${sql.table(name)}`.execute(db);
    out.push(String(created.rows[0]?.['Create Table']).replace(/ AUTO_INCREMENT=\d+/, ''));
  }
  return out;
}

describe.each(DIALECTS)('migrations on %s', (dialect) => {
  it('a start killed in the middle of a migration is completed by the next start, with the same schema', async () => {
    const reference = await emptyDb(dialect);
    await migrateToLatest(reference.db);
    const expected = await schemaOf(reference.db, dialect);
    await reference.drop();

    // The process dies before its Nth statement: those before it ran (and, on MySQL, committed).
    for (const deathAt of [12, 23, 41, 67]) {
      const { db, drop } = await emptyDb(dialect);
      try {
        let statements = 0;
        const dying = db.withPlugin({
          transformQuery: (args) => {
            statements += 1;
            if (statements === deathAt) throw new Error('SIGKILL');
            return args.node;
          },
          transformResult: async (args) => args.result,
        });
        const killed = await new Migrator({
          db: dying,
          provider: { getMigrations: async () => migrations },
        }).migrateToLatest();
        expect(killed.error).toBeDefined();

        await migrateToLatest(db);
        expect((await migrationStatus(db)).every((m) => m.executedAt)).toBe(true);
        expect(await schemaOf(db, dialect)).toEqual(expected);
      } finally {
        await drop();
      }
    }
  }, 60_000);
});
