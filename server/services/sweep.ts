import { randomBytes } from 'node:crypto';
import { readdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Kysely } from 'kysely';
import { affectedRows, isUniqueViolation } from '../../db/dialect.ts';
import type { Database } from '../../db/schema.ts';
import { logger } from '../logger.ts';
import { sweepRemoved } from '../observability/metrics.ts';
import type { Storage } from '../storage/storage.ts';
import type { Clock } from './clock.ts';

const DAY_MS = 24 * 3600 * 1000;

export interface SweepDeps {
  db: Kysely<Database>;
  storage: Storage;
  clock: Clock;
}

export interface SweepOptions {
  /** Output key prefix (OSS_PREFIX): only objects under it are considered. */
  prefix: string;
  /** Staging folder of downloads (DATA_DIR/tmp). */
  tmpDir: string;
  /** Report what would go, remove nothing. */
  dryRun?: boolean;
  /** Objects and temp files younger than this stay (an upload may still be about to be recorded). Default a day. */
  minAgeMs?: number;
  /** Who takes the lock (default: this process). */
  owner?: string;
  /** How long the lock holds if this process dies mid-sweep. Default 30 minutes. */
  lockMs?: number;
}

export interface SweepReport {
  /** False when another process held the sweep lock: nothing was looked at. */
  ran: boolean;
  dryRun: boolean;
  objects: string[];
  /** Multipart uploads left open (`key uploadId`), aborted. */
  uploads: string[];
  sessions: number;
  tempFiles: string[];
}

const LOCK = 'sweep';

/** Takes the named lock unless someone else holds an unexpired one. */
export async function acquireLock(
  db: Kysely<Database>,
  input: { name: string; owner: string; now: number; ttlMs: number },
): Promise<boolean> {
  await db.deleteFrom('locks').where('name', '=', input.name).where('expires_at', '<', input.now).execute();
  try {
    await db
      .insertInto('locks')
      .values({ name: input.name, owner: input.owner, expires_at: input.now + input.ttlMs })
      .execute();
    return true;
  } catch (error) {
    // Someone holds it (SQLite reports a primary-key clash with its own code).
    if (isUniqueViolation(error) || (error as { code?: string }).code === 'SQLITE_CONSTRAINT_PRIMARYKEY')
      return false;
    throw error;
  }
}

export async function releaseLock(db: Kysely<Database>, name: string, owner: string): Promise<boolean> {
  const result = await db
    .deleteFrom('locks')
    .where('name', '=', name)
    .where('owner', '=', owner)
    .executeTakeFirst();
  return affectedRows(result) === 1;
}

/** Keys among `keys` that no job_outputs row points at. */
async function unreferenced(db: Kysely<Database>, keys: string[]): Promise<string[]> {
  if (keys.length === 0) return [];
  const rows = await db.selectFrom('job_outputs').select('oss_path').where('oss_path', 'in', keys).execute();
  const known = new Set(rows.map((r) => r.oss_path));
  return keys.filter((k) => !known.has(k));
}

/**
 * Housekeeping, one process at a time (a row in `locks`): deletes objects under the prefix that no
 * job_outputs row points at and that are older than a day (outputs of jobs that then failed or were
 * canceled, upload leftovers), aborts multipart uploads left open for a day (OSS), purges expired
 * sessions, and removes stale staging folders.
 */
export async function sweep(deps: SweepDeps, options: SweepOptions): Promise<SweepReport> {
  const dryRun = options.dryRun ?? false;
  const report: SweepReport = { ran: false, dryRun, objects: [], uploads: [], sessions: 0, tempFiles: [] };
  const owner = options.owner ?? `sweep-${process.pid}-${randomBytes(4).toString('hex')}`;
  const now = deps.clock.now();
  const cutoff = now - (options.minAgeMs ?? DAY_MS);
  if (!dryRun) {
    const locked = await acquireLock(deps.db, {
      name: LOCK,
      owner,
      now,
      ttlMs: options.lockMs ?? 30 * 60_000,
    });
    if (!locked) return report;
  }
  report.ran = true;
  try {
    // Objects: listed page by page, checked against job_outputs in batches.
    if (deps.storage.list) {
      let batch: string[] = [];
      const flush = async () => {
        for (const key of await unreferenced(deps.db, batch)) {
          report.objects.push(key);
          if (!dryRun) {
            await deps.storage.delete(key);
            sweepRemoved.inc({ kind: 'object' });
          }
        }
        batch = [];
      };
      for await (const object of deps.storage.list(`${options.prefix}/`)) {
        if (object.lastModified >= cutoff) continue;
        batch.push(object.key);
        if (batch.length >= 500) await flush();
      }
      await flush();
    }

    // Multipart uploads a worker killed mid-upload left open: their parts are billed storage. A live
    // upload is minutes old at most (its parts time out after a minute), so a day-old one is nobody's.
    // A role without oss:ListMultipartUploads leaves them to a lifecycle rule; the rest goes on.
    if (deps.storage.openUploads && deps.storage.abortUpload) {
      try {
        for await (const upload of deps.storage.openUploads(`${options.prefix}/`)) {
          if (upload.initiated >= cutoff) continue;
          report.uploads.push(`${upload.key} ${upload.uploadId}`);
          if (!dryRun) {
            await deps.storage.abortUpload(upload.key, upload.uploadId);
            sweepRemoved.inc({ kind: 'upload' });
          }
        }
      } catch (error) {
        logger.warn('sweep: open multipart uploads not looked at', { error });
      }
    }

    // Sessions past their expiry.
    if (dryRun) {
      const row = await deps.db
        .selectFrom('sessions')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('expires_at', '<', now)
        .executeTakeFirstOrThrow();
      report.sessions = Number(row.n);
    } else {
      const result = await deps.db.deleteFrom('sessions').where('expires_at', '<', now).executeTakeFirst();
      report.sessions = affectedRows(result);
      if (report.sessions) sweepRemoved.inc({ kind: 'session' }, report.sessions);
    }

    // Staging folders the pipeline left behind (a crash between download and cleanup).
    const entries = await readdir(options.tmpDir).catch(() => [] as string[]);
    for (const name of entries) {
      const full = path.join(options.tmpDir, name);
      const info = await stat(full).catch(() => null);
      if (!info || info.mtimeMs >= cutoff) continue;
      report.tempFiles.push(full);
      if (!dryRun) {
        await rm(full, { recursive: true, force: true });
        sweepRemoved.inc({ kind: 'temp' });
      }
    }
  } finally {
    if (!dryRun) await releaseLock(deps.db, LOCK, owner).catch(() => undefined);
  }
  if (
    !dryRun &&
    (report.objects.length || report.uploads.length || report.sessions || report.tempFiles.length)
  ) {
    logger.info('sweep removed', {
      objects: report.objects.length,
      uploads: report.uploads.length,
      sessions: report.sessions,
      tempFiles: report.tempFiles.length,
    });
  }
  return report;
}

/** Runs the sweep every `intervalMs` (first run after a minute or the interval, whichever is shorter). */
export function startSweeper(
  deps: SweepDeps,
  options: Omit<SweepOptions, 'dryRun'> & { intervalMs: number; firstDelayMs?: number },
): { stop(): void; done(): Promise<void> } {
  let current: Promise<unknown> = Promise.resolve();
  let stopped = false;
  const run = () => {
    if (stopped) return;
    current = sweep(deps, options).catch((error) => logger.warn('sweep failed', { error }));
  };
  const first = setTimeout(run, options.firstDelayMs ?? Math.min(options.intervalMs, 60_000));
  const every = setInterval(run, options.intervalMs);
  first.unref();
  every.unref();
  return {
    stop() {
      stopped = true;
      clearTimeout(first);
      clearInterval(every);
    },
    done: () => current.then(() => undefined),
  };
}
