import fs from 'node:fs';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, MysqlDialect, SqliteDialect } from 'kysely';
import { createPool } from 'mysql2';
import type { Database } from './schema.ts';

export interface ConnectOptions {
  /** `mysql://user:pass@host:port/db`, `sqlite:PATH`, `sqlite::memory:`, or undefined for DATA_DIR's file. */
  databaseUrl?: string;
  dataDir: string;
  poolSize?: number;
}

/** Opens the database named by DATABASE_URL: a mysql2 pool for MySQL, better-sqlite3 otherwise. */
export function connect(options: ConnectOptions): Kysely<Database> {
  const url = options.databaseUrl;
  if (url?.startsWith('mysql://')) {
    return new Kysely<Database>({
      dialect: new MysqlDialect({
        pool: createPool({
          uri: url,
          connectionLimit: options.poolSize ?? 20,
          decimalNumbers: true,
          supportBigNumbers: true,
          timezone: 'Z',
        }),
      }),
    });
  }
  const file = url?.startsWith('sqlite:')
    ? url.slice('sqlite:'.length)
    : path.join(options.dataDir, 'dream-factory.sqlite');
  if (file !== ':memory:') {
    fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true, mode: 0o700 });
    // Created owner-only before SQLite opens it; its -wal and -shm files take the same mode.
    fs.closeSync(fs.openSync(file, 'a', 0o600));
  }
  const sqlite = new SQLite(file);
  sqlite.pragma('journal_mode = WAL');
  if (file !== ':memory:') restrictFiles([file, `${file}-wal`, `${file}-shm`]);
  sqlite.pragma('busy_timeout = 5000');
  sqlite.pragma('foreign_keys = ON');
  return new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) });
}

/** Tightens database files made by an older version (0644) to owner-only; never fatal. */
function restrictFiles(files: string[]) {
  for (const f of files) {
    try {
      if ((fs.statSync(f).mode & 0o077) !== 0) fs.chmodSync(f, 0o600);
    } catch {
      // Missing (no WAL yet) or not ours: nothing to do.
    }
  }
}
