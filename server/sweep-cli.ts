// `npm run sweep [-- --dry-run]`: one housekeeping pass now (see server/services/sweep.ts).
import path from 'node:path';
import { connect, databaseErrorMessage, describeDatabase } from '../db/connect.ts';
import { createStorage } from './deps.ts';
import { EnvError, loadEnv } from './env.ts';
import { systemClock } from './services/clock.ts';
import { sweep } from './services/sweep.ts';

let env: ReturnType<typeof loadEnv>;
try {
  env = loadEnv();
} catch (error) {
  console.error(error instanceof EnvError ? error.message : String(error));
  process.exit(1);
}
// Deleting is the default, so a flag that is not understood stops here rather than sweep for real. And
// `npm run sweep --dry-run` (no `--`) gives the flag to npm, which says so in npm_config_dry_run.
const args = process.argv.slice(2);
const unknown = args.filter((a) => a !== '--dry-run');
if (unknown.length > 0) {
  console.error(`sweep: unknown argument ${unknown.join(' ')}; usage: npm run sweep [-- --dry-run]`);
  process.exit(2);
}
const dryRun = args.includes('--dry-run') || process.env.npm_config_dry_run === 'true';
let db: ReturnType<typeof connect> | undefined;
try {
  db = connect({ databaseUrl: env.DATABASE_URL, dataDir: env.DATA_DIR, poolSize: 2 });
  const report = await sweep(
    { db, storage: createStorage(env), clock: systemClock },
    { prefix: env.OSS_PREFIX, tmpDir: path.join(env.DATA_DIR, 'tmp'), dryRun },
  );
  if (!report.ran) {
    console.log('Another process is sweeping now; nothing done.');
  } else {
    const verb = dryRun ? 'would remove' : 'removed';
    for (const key of report.objects) console.log(`object ${key}`);
    for (const upload of report.uploads) console.log(`upload ${upload}`);
    for (const file of report.tempFiles) console.log(`temp ${file}`);
    console.log(
      `${verb}: ${report.objects.length} orphan objects, ${report.uploads.length} open multipart uploads, ${report.sessions} expired sessions, ${report.tempFiles.length} stale temp entries`,
    );
  }
} catch (error) {
  console.error(`sweep: ${databaseErrorMessage(error, describeDatabase(env.DATABASE_URL, env.DATA_DIR))}`);
  process.exitCode = 1;
} finally {
  await db?.destroy().catch(() => undefined);
}
