// `npm run db:status`: where DATABASE_URL points, whether it answers, and which migrations are pending.
import { sql } from 'kysely';
import { EnvError, loadEnv } from '../server/env.ts';
import { connect, databaseErrorMessage, describeDatabase } from './connect.ts';
import { migrationStatus } from './migrate.ts';

let env: ReturnType<typeof loadEnv>;
try {
  env = loadEnv();
} catch (error) {
  console.error(error instanceof EnvError ? error.message : String(error));
  process.exit(1);
}
const where = describeDatabase(env.DATABASE_URL, env.DATA_DIR);
try {
  const db = connect({ databaseUrl: env.DATABASE_URL, dataDir: env.DATA_DIR, poolSize: 1 });
  try {
    await sql`select 1`.execute(db);
    const status = await migrationStatus(db);
    const pending = status.filter((m) => !m.executedAt).map((m) => m.name);
    console.log(`database: ${where}: reachable`);
    console.log(`migrations: ${status.length - pending.length} applied, ${pending.length} pending`);
    for (const name of pending) console.log(`  pending: ${name}`);
    if (pending.length)
      console.log('run `npm run db:migrate` (or start one process with MIGRATE_ON_START=true)');
  } finally {
    await db.destroy().catch(() => undefined);
  }
} catch (error) {
  console.error(`db:status: ${databaseErrorMessage(error, where)}`);
  process.exitCode = 1;
}
