import { loadEnv } from '../server/env.ts';
import { connect } from './connect.ts';
import { migrateToLatest } from './migrate.ts';

const env = loadEnv();
const db = connect({ databaseUrl: env.DATABASE_URL, dataDir: env.DATA_DIR });
try {
  const applied = await migrateToLatest(db);
  console.log(applied.length ? `Applied: ${applied.join(', ')}` : 'Database is up to date.');
} finally {
  await db.destroy();
}
