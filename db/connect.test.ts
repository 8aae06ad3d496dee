import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import { describe, expect, it } from 'vitest';
import { databaseErrorMessage, describeDatabase, mysqlTls, withStatementCache } from './connect.ts';

describe('DATABASE_URL TLS options', () => {
  it('maps ?ssl= and ?ssl-ca= to mysql2 options and strips them from the URL', () => {
    expect(mysqlTls('mysql://u:p@db:3306/app')).toEqual({ uri: 'mysql://u:p@db:3306/app' });
    expect(mysqlTls('mysql://u:p@db:3306/app?ssl=true')).toEqual({
      uri: 'mysql://u:p@db:3306/app',
      ssl: { rejectUnauthorized: true },
    });
    expect(mysqlTls('mysql://u:p@db:3306/app?ssl=skip-verify&charset=utf8mb4')).toEqual({
      uri: 'mysql://u:p@db:3306/app?charset=utf8mb4',
      ssl: { rejectUnauthorized: false },
    });
    const ca = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'df-ca-')), 'ca.pem');
    fs.writeFileSync(ca, '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
    expect(mysqlTls(`mysql://u:p@db/app?ssl-ca=${ca}`).ssl).toEqual({
      ca: fs.readFileSync(ca, 'utf8'),
      rejectUnauthorized: true,
    });
    expect(() => mysqlTls('mysql://u:p@db/app?ssl=maybe')).toThrow(/ssl must be/);
  });

  it('describes the database without the password, and errors in one line', () => {
    const where = describeDatabase('mysql://dream:s3cret@db.example:3307/app', '/data');
    expect(where).toBe('MySQL database "app" at db.example:3307 as user "dream"');
    expect(databaseErrorMessage({ code: 'ER_ACCESS_DENIED_ERROR', message: 'x' }, where)).toMatch(
      /refused the login/,
    );
    expect(databaseErrorMessage(new Error('line one\n    at stack'), where)).toBe(`${where}: line one`);
    // A failed migration is named, whatever its cause.
    const cause = Object.assign(new Error("Table 'x' already exists"), { code: 'ER_TABLE_EXISTS_ERROR' });
    const failed = new Error(`Migration 2026-x failed: ${cause.message}`, { cause });
    expect(databaseErrorMessage(failed, where)).toBe(
      `${where}: Migration 2026-x failed: Table 'x' already exists`,
    );
    const refused = Object.assign(new Error('denied'), { code: 'ER_ACCESS_DENIED_ERROR' });
    expect(
      databaseErrorMessage(new Error('Migration 2026-x failed: denied', { cause: refused }), where),
    ).toMatch(/refused the login/);
    expect(describeDatabase(undefined, '/data')).toBe('SQLite file /data/dream-factory.sqlite');
  });
});

describe('SQLite prepared statements', () => {
  it('are kept by SQL text, through Kysely too; a statement being iterated is not handed out again; the cache is bounded', async () => {
    const sqlite = new SQLite(':memory:');
    const kept = withStatementCache(sqlite, 3);
    const select = 'select ? as n';
    const first = kept.prepare(select);
    expect(kept.prepare(select)).toBe(first);
    expect(first.get(7)).toEqual({ n: 7 });

    // A stream holds its statement until it ends: meanwhile the same SQL gets a fresh one.
    sqlite.exec('create table t (n integer)');
    sqlite.exec('insert into t values (1), (2)');
    const scan = 'select n from t order by n';
    const rows = kept.prepare(scan).iterate();
    expect(rows.next().value).toEqual({ n: 1 });
    const during = kept.prepare(scan);
    expect(during.busy).toBe(false);
    expect(during.all()).toEqual([{ n: 1 }, { n: 2 }]);
    rows.return?.();
    expect(kept.prepare(scan)).not.toBe(during);

    // Three kept at most: the first one added goes first.
    kept.prepare('select 1');
    kept.prepare('select 2');
    expect(kept.prepare(select)).not.toBe(first);

    // What Kysely runs goes through it: a query run twice is prepared once.
    let prepared = 0;
    const counting = withStatementCache(
      Object.assign(Object.create(sqlite) as SQLite.Database, {
        prepare: (sql: string) => {
          prepared++;
          return sqlite.prepare(sql);
        },
      }),
    );
    const db = new Kysely<{ t: { n: number } }>({ dialect: new SqliteDialect({ database: counting }) });
    for (let i = 0; i < 3; i++)
      expect(await db.selectFrom('t').select('n').where('n', '>', i).execute()).toHaveLength(
        Math.max(0, 2 - i),
      );
    expect(prepared).toBe(1);
    await db.destroy();
  });
});
