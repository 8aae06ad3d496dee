import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect } from '../db/connect.ts';
import { migrateToLatest } from '../db/migrate.ts';
import { createApp } from './app.ts';
import { appSecret, createInnerContext, createRunner, ensureDataDir } from './deps.ts';
import { type Env, EnvError, loadEnv } from './env.ts';
import { logger } from './logger.ts';
import { systemClock } from './services/clock.ts';
import { LocalStorage, localFilesHandler } from './storage/local.ts';

let env: Env;
try {
  env = loadEnv();
  ensureDataDir(env.DATA_DIR);
  // Local files are signed with it: a short secret stops the start here, with a message.
  if (!env.OSS_BUCKET) appSecret(env);
} catch (error) {
  if (error instanceof EnvError) {
    console.error(error.message);
    process.exit(1);
  }
  throw error;
}
logger.setLevel(env.LOG_LEVEL);

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const db = connect({ databaseUrl: env.DATABASE_URL, dataDir: env.DATA_DIR });
await migrateToLatest(db);

const inner = createInnerContext(env, db, systemClock);
const runner = env.ROLE === 'api' ? null : createRunner(env, inner);
runner?.start();

const mounts =
  inner.storage instanceof LocalStorage
    ? [{ path: '/files', handler: localFilesHandler(inner.storage) }]
    : [];
const app = createApp(inner, { clientDir: path.join(root, 'dist/client'), mounts });

// A worker-only process still listens, for /healthz; it serves the API too, which does no harm.
const server = app.listen(env.PORT, env.HOST, () => {
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : env.PORT;
  logger.info('listening', {
    url: `http://${env.HOST}:${port}`,
    role: env.ROLE,
    database: env.DATABASE_URL?.startsWith('mysql') ? 'mysql' : 'sqlite',
    storage: inner.storage.kind,
    models: inner.providers.models().map((m) => m.id),
  });
});

let stopping = false;
async function shutdown(signal: string) {
  if (stopping) return;
  stopping = true;
  logger.info('shutting down', { signal });
  // Stop accepting and let in-flight requests finish (a waiting generateImage still gets its result,
  // since the runner keeps working meanwhile); long-lived streams get a grace period.
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  const force = setTimeout(() => server.closeAllConnections(), 15_000);
  await closed;
  clearTimeout(force);
  // Then in-flight jobs hand their leases back; their provider tasks resume on the next start or elsewhere.
  await runner?.stop();
  await db.destroy();
  logger.info('stopped');
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));
