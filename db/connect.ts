import fs from 'node:fs';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import { CompiledQuery, Kysely, MysqlDialect, SqliteDialect } from 'kysely';
import { createPool, type SslOptions } from 'mysql2';
import type { Database } from './schema.ts';

export interface ConnectOptions {
  /** `mysql://user:pass@host:port/db`, `sqlite:PATH`, `sqlite::memory:`, or undefined for DATA_DIR's file. */
  databaseUrl?: string;
  dataDir: string;
  /** MySQL connections in the pool (DATABASE_POOL_SIZE); default 20. */
  poolSize?: number;
}

/**
 * TLS to MySQL from the URL's query: `?ssl=true` (verify the server against the system CAs),
 * `?ssl=skip-verify` (encrypt, trust any certificate), `?ssl-ca=/path/ca.pem` (verify against this CA).
 * Returns the URL without those parameters and the mysql2 ssl option.
 */
export function mysqlTls(url: string): { uri: string; ssl?: SslOptions } {
  const parsed = new URL(url);
  const mode = parsed.searchParams.get('ssl');
  const caFile = parsed.searchParams.get('ssl-ca');
  parsed.searchParams.delete('ssl');
  parsed.searchParams.delete('ssl-ca');
  const uri = parsed.toString();
  if (caFile) return { uri, ssl: { ca: fs.readFileSync(caFile, 'utf8'), rejectUnauthorized: true } };
  if (mode === null || mode === 'false' || mode === '0') return { uri };
  if (mode === 'skip-verify') return { uri, ssl: { rejectUnauthorized: false } };
  if (mode === 'true' || mode === '1' || mode === 'required')
    return { uri, ssl: { rejectUnauthorized: true } };
  throw new Error(`DATABASE_URL: ssl must be true, skip-verify or false (got "${mode}")`);
}

/** Where a DATABASE_URL points, for messages: never the password. */
export function describeDatabase(databaseUrl: string | undefined, dataDir: string): string {
  if (databaseUrl?.startsWith('mysql://')) {
    const u = new URL(databaseUrl);
    // Bad percent-encoding is the driver's to refuse (with a message naming DATABASE_URL), not this.
    const decode = (part: string) => {
      try {
        return decodeURIComponent(part);
      } catch {
        return part;
      }
    };
    return `MySQL database "${decode(u.pathname.slice(1))}" at ${u.hostname}:${u.port || 3306} as user "${decode(u.username)}"`;
  }
  const file = databaseUrl?.startsWith('sqlite:')
    ? databaseUrl.slice('sqlite:'.length)
    : path.join(dataDir, 'dream-factory.sqlite');
  return `SQLite file ${file}`;
}

/**
 * One line saying why the database could not be used, without a stack: a missing database, a refused
 * login, nothing listening, an unknown host. Unrecognised errors keep their own message.
 */
export function databaseErrorMessage(error: unknown, where: string): string {
  const e = error as { code?: string; errno?: number; message?: string; cause?: unknown } | null;
  const code = e?.code;
  if (code === 'ER_BAD_DB_ERROR')
    return `${where} does not exist: create it (CREATE DATABASE … CHARACTER SET utf8mb4) or fix DATABASE_URL`;
  if (code === 'ER_ACCESS_DENIED_ERROR' || code === 'ER_DBACCESS_DENIED_ERROR')
    return `${where}: the server refused the login (check the user, password and grants in DATABASE_URL)`;
  if (code === 'ECONNREFUSED') return `${where}: connection refused (is the database server running?)`;
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return `${where}: unknown host`;
  if (code === 'ETIMEDOUT') return `${where}: the connection timed out`;
  if (code === 'HANDSHAKE_NO_SSL_SUPPORT')
    return `${where}: the server does not support TLS (ssl in DATABASE_URL)`;
  if (code === 'SQLITE_CANTOPEN') return `${where} cannot be opened (check DATA_DIR and its permissions)`;
  const own = `${where}: ${e?.message ?? String(error)}`.split('\n')[0]!;
  if (e?.cause && e.cause !== error) {
    // A known cause is said its way; an unknown one keeps the wrapper's words ("Migration X failed: …").
    const cause = e.cause as { message?: string };
    const inner = databaseErrorMessage(e.cause, where);
    return inner === `${where}: ${cause.message ?? String(e.cause)}`.split('\n')[0] ? own : inner;
  }
  return own;
}

/** Opens the database named by DATABASE_URL: a mysql2 pool for MySQL, better-sqlite3 otherwise. */
export function connect(options: ConnectOptions): Kysely<Database> {
  const url = options.databaseUrl;
  if (url?.startsWith('mysql://')) {
    // A URL the driver cannot take (bad percent-encoding, an unknown ssl value, a CA file that is
    // missing) is said as the variable's fault, so every caller's one-line database error names it.
    let pool: ReturnType<typeof createPool>;
    try {
      const { uri, ssl } = mysqlTls(url);
      pool = createPool({
        uri,
        ...(ssl ? { ssl } : {}),
        connectionLimit: options.poolSize ?? 20,
        decimalNumbers: true,
        supportBigNumbers: true,
        timezone: 'Z',
      });
    } catch (error) {
      const message = (error as Error).message;
      throw new Error(message.startsWith('DATABASE_URL') ? message : `DATABASE_URL: ${message}`);
    }
    return new Kysely<Database>({
      dialect: new MysqlDialect({
        pool,
        // Search reads a term's postings as one GROUP_CONCAT (up to 1,000 ids); MySQL's default cuts at 1 KB.
        onCreateConnection: async (connection) => {
          await connection.executeQuery(CompiledQuery.raw('set session group_concat_max_len = 1048576'));
        },
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
  return new Kysely<Database>({ dialect: new SqliteDialect({ database: withStatementCache(sqlite) }) });
}

/** Prepared statements kept per connection, by SQL text; the least recently added goes first past this. */
const STATEMENT_CACHE_SIZE = 500;

/**
 * better-sqlite3 as Kysely drives it, with its prepared statements kept by SQL text: Kysely prepares
 * every query it runs, and preparing one costs more than running most of ours (a 12-statement
 * generation spent 0.75 ms preparing and 0.6 ms running). A statement still being iterated (a stream)
 * is busy, so a second use of its SQL meanwhile gets a fresh one. SQLite re-prepares a kept statement
 * itself when the schema changes.
 */
export function withStatementCache(sqlite: SQLite.Database, size = STATEMENT_CACHE_SIZE) {
  const statements = new Map<string, SQLite.Statement>();
  return {
    close: () => sqlite.close(),
    prepare(sql: string): SQLite.Statement {
      const kept = statements.get(sql);
      if (kept && !kept.busy) return kept;
      const statement = sqlite.prepare(sql);
      if (!kept) {
        if (statements.size >= size) statements.delete(statements.keys().next().value!);
        statements.set(sql, statement);
      }
      return statement;
    },
  };
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
