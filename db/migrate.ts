import {
  CompiledQuery,
  type DatabaseConnection,
  type Driver,
  Kysely,
  MysqlAdapter,
  MysqlIntrospector,
  MysqlQueryCompiler,
  SqliteIntrospector,
  SqliteQueryCompiler,
} from 'kysely';
import { type Migration, Migrator } from 'kysely/migration';
import { isSchemaAlreadyChanged } from './dialect.ts';
import { migrations } from './migrations/index.ts';

/**
 * Kysely runs a migration's statements one at a time and records the migration after the last; MySQL
 * commits every DDL statement at once, and Kysely runs SQLite's without a transaction too. A process
 * killed in between (a SIGKILL during the migrations at start) leaves a migration half applied: its
 * first tables made, its row missing, and every start after failing on "table … already exists". So a
 * migration's DDL statement that finds its work done counts as done, and the next run completes the
 * half-applied migration. (In a first run no statement finds its own work done: each runs once.)
 */
function resumable(db: Kysely<any>): Kysely<any> {
  const executor = db.getExecutor();
  const mysql = executor.adapter instanceof MysqlAdapter;
  const wrap = (connection: DatabaseConnection, release: () => void) => ({
    connection: {
      executeQuery: async (query: CompiledQuery) => {
        try {
          return await connection.executeQuery(query);
        } catch (error) {
          if (/^\s*(?:create|alter|drop)\b/i.test(query.sql) && isSchemaAlreadyChanged(error))
            return { rows: [] };
          throw error;
        }
      },
      streamQuery: connection.streamQuery.bind(connection),
    } satisfies DatabaseConnection,
    release,
  });
  const held = new WeakMap<DatabaseConnection, () => void>();
  const driver: Driver = {
    init: async () => undefined,
    // One of db's connections per statement (the migrator's own, locked one when db is bound to it).
    acquireConnection: () =>
      new Promise((resolve, reject) => {
        executor
          .provideConnection(
            (connection) =>
              new Promise<void>((release) => {
                const wrapped = wrap(connection, release);
                held.set(wrapped.connection, wrapped.release);
                resolve(wrapped.connection);
              }),
          )
          .catch(reject);
      }),
    beginTransaction: async (c) => void (await c.executeQuery(CompiledQuery.raw('begin'))),
    commitTransaction: async (c) => void (await c.executeQuery(CompiledQuery.raw('commit'))),
    rollbackTransaction: async (c) => void (await c.executeQuery(CompiledQuery.raw('rollback'))),
    releaseConnection: async (c) => held.get(c)?.(),
    destroy: async () => undefined,
  };
  return new Kysely<any>({
    dialect: {
      createAdapter: () => executor.adapter,
      createDriver: () => driver,
      createQueryCompiler: () => (mysql ? new MysqlQueryCompiler() : new SqliteQueryCompiler()),
      createIntrospector: (k) => (mysql ? new MysqlIntrospector(k) : new SqliteIntrospector(k)),
    },
  });
}

const resumableMigrations: Record<string, Migration> = Object.fromEntries(
  Object.entries(migrations).map(([name, m]) => [
    name,
    { ...m, up: (db: Kysely<any>) => m.up(resumable(db)) },
  ]),
);

/** Brings the schema up to date; throws with the failing migration's name. */
export async function migrateToLatest(db: Kysely<any>): Promise<string[]> {
  const migrator = new Migrator({ db, provider: { getMigrations: async () => resumableMigrations } });
  const { error, results } = await migrator.migrateToLatest();
  const failed = results?.find((r) => r.status === 'Error');
  if (error) {
    // No migration failed: the database itself could not be reached (or locked); say that, not a blank name.
    if (!failed) throw error;
    throw new Error(`Migration ${failed?.migrationName ?? ''} failed: ${(error as Error).message}`, {
      cause: error,
    });
  }
  return (results ?? []).map((r) => r.migrationName);
}

/** Migrations known to this build and whether each has run. */
export async function migrationStatus(db: Kysely<any>): Promise<{ name: string; executedAt?: Date }[]> {
  const migrator = new Migrator({ db, provider: { getMigrations: async () => migrations } });
  return (await migrator.getMigrations()).map((m) => ({ name: m.name, executedAt: m.executedAt }));
}
