import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { databaseErrorMessage, describeDatabase, mysqlTls } from './connect.ts';

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
    expect(describeDatabase(undefined, '/data')).toBe('SQLite file /data/dream-factory.sqlite');
  });
});
