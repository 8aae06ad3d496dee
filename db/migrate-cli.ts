// `npm run db:migrate`: applies pending migrations to DATABASE_URL; a failure is one line on stderr, exit 1.
import { EnvError, loadEnv } from '../server/env.ts';
import { connect, databaseErrorMessage, describeDatabase } from './connect.ts';
import { migrateToLatest } from './migrate.ts';

let env: ReturnType<typeof loadEnv>;
try {
  env = loadEnv();
} catch (error) {
  console.error(error instanceof EnvError ? error.message : String(error));
  process.exit(1);
}
const where = describeDatabase(env.DATABASE_URL, env.DATA_DIR);
let code = 0;
try {
  const db = connect({ databaseUrl: env.DATABASE_URL, dataDir: env.DATA_DIR, poolSize: 2 });
  try {
    const applied = await migrateToLatest(db);
    // Named, so a run that missed its DATABASE_URL (and migrated DATA_DIR's SQLite file) shows it.
    console.log(`${where}: ${applied.length ? `applied ${applied.join(', ')}` : 'up to date'}`);
  } finally {
    await db.destroy().catch(() => undefined);
  }
} catch (error) {
  console.error(`db:migrate: ${databaseErrorMessage(error, where)}`);
  code = 1;
}
process.exitCode = code;
