import type { Kysely } from 'kysely';
import { toPage } from '../../db/paging.ts';
import type { Database, JobOutput } from '../../db/schema.ts';
import { AppError } from '../../shared/errors.ts';
import type { Storage } from '../storage/storage.ts';

/** The user's outputs, newest first, with the prompt of their job; id cursor. */
export async function listOutputs(
  db: Kysely<Database>,
  input: { userId: string; cursor?: string | null; limit: number; kind?: 'image' | 'video' },
): Promise<{ items: (JobOutput & { prompt: string })[]; nextCursor: string | null }> {
  let query = db
    .selectFrom('job_outputs')
    .innerJoin('jobs', 'jobs.id', 'job_outputs.job_id')
    .selectAll('job_outputs')
    .select('jobs.prompt')
    .where('job_outputs.user_id', '=', input.userId)
    .where('job_outputs.deleted_at', 'is', null)
    .orderBy('job_outputs.id', 'desc')
    .limit(input.limit + 1);
  if (input.kind) query = query.where('job_outputs.kind', '=', input.kind);
  if (input.cursor) query = query.where('job_outputs.id', '<', input.cursor);
  return toPage(await query.execute(), input.limit, (o) => o.id);
}

/** Removes the object from storage, then marks the row deleted. Another user's output is NOT_FOUND. */
export async function deleteOutput(
  db: Kysely<Database>,
  storage: Storage,
  input: { userId: string; id: string; now: number },
): Promise<void> {
  const output = await db
    .selectFrom('job_outputs')
    .selectAll()
    .where('id', '=', input.id)
    .where('user_id', '=', input.userId)
    .where('deleted_at', 'is', null)
    .executeTakeFirst();
  if (!output) throw new AppError('NOT_FOUND', 'Output not found', { reason: 'OUTPUT_NOT_FOUND' });
  try {
    await storage.delete(output.oss_path);
  } catch (error) {
    throw new AppError('STORAGE_UPLOAD_FAILED', 'Could not delete the file from storage; try again', {
      cause: error,
      reason: 'STORAGE_DELETE_FAILED',
    });
  }
  await db.updateTable('job_outputs').set({ deleted_at: input.now }).where('id', '=', output.id).execute();
}
