import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect, databaseErrorMessage, describeDatabase } from '../db/connect.ts';
import { migrateToLatest, migrationStatus } from '../db/migrate.ts';
import { createApp } from './app.ts';
import { appSecret, createInnerContext, createRunner, ensureDataDir } from './deps.ts';
import { type Env, EnvError, loadEnv } from './env.ts';
import { answerMalformedRequests } from './http/client-errors.ts';
import { createHttpServer } from './http/server.ts';
import { cutEventStreams } from './http/trpc-handler.ts';
import { logger, routeConsoleToLogger } from './logger.ts';
import { systemClock } from './services/clock.ts';
import { startSweeper } from './services/sweep.ts';
import { LocalStorage, localFilesHandler } from './storage/local.ts';
import { checkStorageAtStart } from './storage/start-check.ts';

let env: Env;
try {
  env = loadEnv();
  ensureDataDir(env.DATA_DIR);
  // Local files are signed with it: a short secret stops the start here, with a message.
  if (!env.OSS_BUCKET) appSecret(env);
} catch (error) {
  // Past the variables' own checks, only DATA_DIR's creation can fail here (not writable, a file).
  console.error(error instanceof EnvError ? error.message : `DATA_DIR: ${(error as Error).message}`);
  process.exit(1);
}
logger.setLevel(env.LOG_LEVEL);
logger.setFormat(env.LOG_FORMAT);
routeConsoleToLogger();

// The repository root, whether this runs as server/index.ts (tsx) or as the build's dist/server/index.js.
const here = path.dirname(fileURLToPath(import.meta.url));
const root =
  path.basename(path.dirname(here)) === 'dist' ? path.resolve(here, '../..') : path.resolve(here, '..');
const clientDir = [path.join(root, 'dist/client')].find((dir) => fs.existsSync(path.join(dir, 'index.html')));

const where = describeDatabase(env.DATABASE_URL, env.DATA_DIR);
let db: ReturnType<typeof connect>;
try {
  db = connect({ databaseUrl: env.DATABASE_URL, dataDir: env.DATA_DIR, poolSize: env.DATABASE_POOL_SIZE });
} catch (error) {
  // A URL the driver cannot take (connect names DATABASE_URL).
  logger.error(`database: ${databaseErrorMessage(error, where)}`);
  process.exit(1);
}
try {
  if (env.MIGRATE_ON_START) {
    const applied = await migrateToLatest(db);
    if (applied.length) logger.info('migrations applied', { applied });
  } else {
    const pending = (await migrationStatus(db)).filter((m) => !m.executedAt).map((m) => m.name);
    if (pending.length)
      logger.warn('migrations pending: run `npm run db:migrate` (MIGRATE_ON_START=false here)', { pending });
  }
} catch (error) {
  logger.error(`database: ${databaseErrorMessage(error, where)}`);
  await db.destroy().catch(() => undefined);
  process.exit(1);
}

const inner = createInnerContext(env, db, systemClock);
const runner = env.ROLE === 'api' ? null : createRunner(env, inner);
runner?.start();
const sweeper =
  env.ROLE === 'api' || env.SWEEP_INTERVAL_MINUTES === 0
    ? null
    : startSweeper(inner, {
        intervalMs: env.SWEEP_INTERVAL_MINUTES * 60_000,
        prefix: env.OSS_PREFIX,
        tmpDir: path.join(env.DATA_DIR, 'tmp'),
      });

const mounts =
  inner.storage instanceof LocalStorage
    ? [{ path: '/files', handler: localFilesHandler(inner.storage) }]
    : [];
const app = createApp(inner, { clientDir, mounts });

// Wrong OSS settings said once, now, rather than by every job's upload failing (at most 3 s; it starts
// either way). Done before listening, so the look is over before anything is served.
await checkStorageAtStart(inner.storage, { prefix: env.OSS_PREFIX, log: logger });

// A worker-only process still listens, for /healthz; it serves the API too, which does no harm.
const server = createHttpServer(app);
server.listen(env.PORT, env.HOST, () => {
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : env.PORT;
  logger.info('listening', {
    url: `http://${env.HOST}:${port}`,
    role: env.ROLE,
    database: env.DATABASE_URL?.startsWith('mysql') ? 'mysql' : 'sqlite',
    storage: inner.storage.kind,
    models: inner.providers.models().map((m) => m.id),
    spa: clientDir ? 'built' : 'placeholder',
    pid: process.pid,
  });
  if (env.TRUST_PROXY === 'true') {
    logger.warn(
      'TRUST_PROXY=true takes the client address from the left of X-Forwarded-For, which the client writes: per-address limits can be dodged; set the number of proxies (e.g. 1) or their addresses',
    );
  }
});
answerMalformedRequests(server);
server.on('error', (error) => {
  logger.error(`cannot listen on ${env.HOST}:${env.PORT}: ${(error as Error).message}`);
  process.exit(1);
});

/**
 * The longest a stop may take. Something that never answers (a database behind a partition: the runner's
 * claim hangs) would otherwise keep the process until the supervisor's SIGKILL; it ends first, under
 * compose's 30 s stop_grace_period, and what it held resumes through the leases, as after a crash.
 */
const STOP_DEADLINE_MS = 25_000;

let stopping = false;
async function shutdown(signal: string) {
  if (stopping) return;
  stopping = true;
  logger.info('shutting down', { signal });
  setTimeout(() => {
    logger.error(
      `stop took over ${STOP_DEADLINE_MS / 1000} s (the database or a provider is not answering): exiting now`,
    );
    process.exit(1);
  }, STOP_DEADLINE_MS).unref();
  sweeper?.stop();
  // Stop accepting and let in-flight requests finish (a waiting generateImage still gets its result,
  // since the runner keeps working meanwhile); job watches are cut at once (their clients reconnect with
  // the last event id to another process) and anything else long-lived gets a grace period.
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  const streams = cutEventStreams();
  if (streams) logger.info('cut open job watches; their clients reconnect elsewhere', { streams });
  const force = setTimeout(() => server.closeAllConnections(), 15_000);
  await closed;
  clearTimeout(force);
  // Then in-flight jobs hand their leases back; their provider tasks resume on the next start or elsewhere.
  await runner?.stop();
  await sweeper?.done();
  await inner.storage.close?.();
  await db.destroy();
  logger.info('stopped');
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));
