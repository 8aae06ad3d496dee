import { type Kysely, MysqlAdapter, type RawBuilder, type SelectQueryBuilder, sql } from 'kysely';

/** The few places MySQL and SQLite differ, kept in one module. */
export type DialectName = 'mysql' | 'sqlite';

export const dialectOf = (db: Kysely<any>): DialectName =>
  db.getExecutor().adapter instanceof MysqlAdapter ? 'mysql' : 'sqlite';

/** Row lock that skips rows other workers hold (MySQL); SQLite has one writer, so it needs none. */
export function forUpdateSkipLocked<DB, TB extends keyof DB, O>(
  db: Kysely<any>,
  query: SelectQueryBuilder<DB, TB, O>,
): SelectQueryBuilder<DB, TB, O> {
  return dialectOf(db) === 'mysql' ? query.forUpdate().skipLocked() : query;
}

/** JSON columns come back as text on SQLite, and parsed by mysql2 from MySQL 8 and MariaDB 10.11. */
export function parseJson<T>(value: unknown): T {
  return (typeof value === 'string' ? JSON.parse(value) : value) as T;
}

/** Number of rows an UPDATE/DELETE touched, whatever the driver calls it. */
export const affectedRows = (result: { numUpdatedRows?: bigint; numDeletedRows?: bigint }): number =>
  Number(result.numUpdatedRows ?? result.numDeletedRows ?? 0n);

/** MySQL duplicate-key and SQLite unique-constraint errors. */
export function isUniqueViolation(error: unknown): boolean {
  const e = error as { code?: string; errno?: number } | null;
  return e?.code === 'ER_DUP_ENTRY' || e?.errno === 1062 || e?.code === 'SQLITE_CONSTRAINT_UNIQUE';
}

/**
 * A DDL statement that finds its work already done: the table, column, index or key it creates exists,
 * or the one it drops is gone (MySQL error numbers; SQLite says it in the message).
 */
export function isSchemaAlreadyChanged(error: unknown): boolean {
  const e = error as { code?: string; errno?: number; message?: string } | null;
  // 1050 table exists, 1060 duplicate column, 1061 duplicate key name, 1068 multiple primary key,
  // 1091 cannot drop (no such column or key), 1826 duplicate foreign key name.
  if (e?.errno !== undefined && [1050, 1060, 1061, 1068, 1091, 1826].includes(e.errno)) return true;
  return (
    typeof e?.code === 'string' &&
    e.code.startsWith('SQLITE_') &&
    /already exists|duplicate column name|^no such (?:column|index|table)/.test(e.message ?? '')
  );
}

/**
 * Codes of a database that cannot answer now, as opposed to a statement it refused: nothing listening,
 * the connection lost or timed out, too many connections, the server shutting down, a lock not granted
 * in time (MySQL), the file busy past `busy_timeout` (SQLite). A request that meets one can succeed
 * when sent again, so it is answered 503, not 500.
 */
const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
  'PROTOCOL_CONNECTION_LOST',
  'PROTOCOL_SEQUENCE_TIMEOUT',
  'ER_CON_COUNT_ERROR',
  'ER_TOO_MANY_USER_CONNECTIONS',
  'ER_SERVER_SHUTDOWN',
  'ER_LOCK_WAIT_TIMEOUT',
  'SQLITE_BUSY',
]);

/**
 * The code by which `error` (or one of its causes) says the database could not answer now (see
 * UNAVAILABLE_CODES), for the log line; undefined for any other error.
 */
export function databaseUnavailable(error: unknown): string | undefined {
  for (let e = error, depth = 0; e && typeof e === 'object' && depth < 5; depth++) {
    const { code, message, cause } = e as { code?: unknown; message?: unknown; cause?: unknown };
    if (typeof code === 'string' && UNAVAILABLE_CODES.has(code)) return code;
    // mysql2's pool once it is closed (a process stopping), which sets no code.
    if (message === 'Pool is closed.') return 'POOL_CLOSED';
    e = cause;
  }
  return undefined;
}

/** Deadlocks and lock-wait timeouts on MySQL, busy database on SQLite: safe to retry the transaction. */
export function isRetryableTxError(error: unknown): boolean {
  const e = error as { code?: string; errno?: number } | null;
  return (
    e?.code === 'ER_LOCK_DEADLOCK' ||
    e?.code === 'ER_LOCK_WAIT_TIMEOUT' ||
    e?.errno === 1213 ||
    e?.errno === 1205 ||
    e?.code === 'SQLITE_BUSY'
  );
}

/**
 * MySQL FORCE INDEX. MariaDB's sampled statistics can misjudge `user_id = ? ORDER BY id DESC LIMIT n` and
 * walk the primary key (seconds on a large table); SQLite plans these queries well unaided.
 */
export const forceIndex = (db: Kysely<any>, index: string): RawBuilder<unknown> =>
  dialectOf(db) === 'mysql' ? sql.raw(`force index (${index})`) : sql``;

/**
 * UNION ALL of SELECTs that each keep their own ORDER BY and LIMIT: parenthesised on MySQL (a derived
 * table around each, the portable form, costs MariaDB a temporary table apiece), and as derived tables on
 * SQLite, whose compound SELECTs take no parentheses.
 */
export const unionAll = (db: Kysely<any>, parts: RawBuilder<unknown>[]): RawBuilder<unknown> =>
  dialectOf(db) === 'mysql'
    ? sql.join(
        parts.map((part) => sql`(${part})`),
        sql` union all `,
      )
    : sql.join(
        parts.map((part, i) => sql`select * from (${part}) ${sql.ref(`u${i}`)}`),
        sql` union all `,
      );

/**
 * A join that keeps the tables in the order written: the left one drives (MySQL STRAIGHT_JOIN; SQLite's
 * CROSS JOIN, which its planner never reorders).
 */
export const straightJoin = (db: Kysely<any>): RawBuilder<unknown> =>
  sql.raw(dialectOf(db) === 'mysql' ? 'straight_join' : 'cross join');
