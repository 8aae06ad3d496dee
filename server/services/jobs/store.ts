import { sql } from 'kysely';
import { affectedRows, forUpdateSkipLocked, parseJson } from '../../../db/dialect.ts';
import { toPage } from '../../../db/paging.ts';
import type { Job, JobOutput, JobStage, JobUpdate, NewJob } from '../../../db/schema.ts';
import type { Executor } from '../../../db/transaction.ts';

export const FINAL_STATUSES = ['succeeded', 'failed', 'canceled'] as const;
export const isFinal = (status: string): boolean => (FINAL_STATUSES as readonly string[]).includes(status);

export async function insertJob(db: Executor, job: NewJob): Promise<void> {
  await db.insertInto('jobs').values(job).execute();
}

export async function findJob(db: Executor, id: string): Promise<Job | undefined> {
  return db.selectFrom('jobs').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function findUserJob(db: Executor, userId: string, id: string): Promise<Job | undefined> {
  return db
    .selectFrom('jobs')
    .selectAll()
    .where('id', '=', id)
    .where('user_id', '=', userId)
    .executeTakeFirst();
}

export async function findJobByIdempotencyKey(
  db: Executor,
  userId: string,
  key: string,
): Promise<Job | undefined> {
  return db
    .selectFrom('jobs')
    .selectAll()
    .where('user_id', '=', userId)
    .where('idempotency_key', '=', key)
    .executeTakeFirst();
}

export interface JobGuard {
  status?: Job['status'][];
  leaseOwner?: string;
}

/** Updates a job and bumps its status_sequence; the guard makes it conditional. Returns whether it applied. */
export async function updateJob(
  db: Executor,
  id: string,
  patch: JobUpdate,
  guard: JobGuard = {},
): Promise<boolean> {
  let query = db
    .updateTable('jobs')
    .set((eb) => ({ ...patch, status_sequence: eb('status_sequence', '+', 1) }))
    .where('id', '=', id);
  if (guard.status) query = query.where('status', 'in', guard.status);
  if (guard.leaseOwner) query = query.where('lease_owner', '=', guard.leaseOwner);
  return affectedRows(await query.executeTakeFirst()) === 1;
}

/**
 * Claims up to `limit` jobs that are due and not leased by a live worker: queued ones, and running ones
 * whose lease expired (their worker died). MySQL skips rows other workers are claiming.
 */
export async function claimJobs(
  trx: Executor,
  input: { owner: string; limit: number; leaseMs: number; now: number },
): Promise<Job[]> {
  const candidates = await forUpdateSkipLocked(
    trx,
    trx
      .selectFrom('jobs')
      .select('id')
      .where('status', 'in', ['queued', 'running'])
      .where('next_attempt_at', '<=', input.now)
      .where((eb) => eb.or([eb('lease_until', 'is', null), eb('lease_until', '<', input.now)]))
      .orderBy('next_attempt_at')
      .orderBy('id')
      .limit(input.limit),
  ).execute();
  const claimed: Job[] = [];
  for (const { id } of candidates) {
    const result = await trx
      .updateTable('jobs')
      .set((eb) => ({
        status: 'running',
        // A fresh job goes straight to submitting; a reclaimed one with a task id resumes generating.
        stage: sql<JobStage>`case when provider_task_id is null then 'submitting' else 'generating' end`,
        lease_owner: input.owner,
        lease_until: input.now + input.leaseMs,
        attempts: eb('attempts', '+', 1),
        started_at: eb.fn.coalesce('started_at', eb.val(input.now)),
        status_sequence: eb('status_sequence', '+', 1),
      }))
      .where('id', '=', id)
      .where('status', 'in', ['queued', 'running'])
      .where((eb) => eb.or([eb('lease_until', 'is', null), eb('lease_until', '<', input.now)]))
      .executeTakeFirst();
    if (affectedRows(result) === 1) claimed.push((await findJob(trx, id))!);
  }
  return claimed;
}

/** Extends a lease; false when the job is no longer ours (canceled, or reclaimed after we stalled). */
export async function renewLease(
  db: Executor,
  input: { id: string; owner: string; leaseMs: number; now: number },
): Promise<boolean> {
  const result = await db
    .updateTable('jobs')
    .set({ lease_until: input.now + input.leaseMs })
    .where('id', '=', input.id)
    .where('lease_owner', '=', input.owner)
    .where('status', '=', 'running')
    .executeTakeFirst();
  return affectedRows(result) === 1;
}

export async function outputsOfJob(db: Executor, jobId: string): Promise<JobOutput[]> {
  return db
    .selectFrom('job_outputs')
    .selectAll()
    .where('job_id', '=', jobId)
    .where('deleted_at', 'is', null)
    .orderBy('id')
    .execute();
}

/** The live outputs of several jobs at once, grouped by job id (the job feed shows them under each job). */
export async function outputsOfJobs(
  db: Executor,
  jobIds: readonly string[],
): Promise<Map<string, JobOutput[]>> {
  const byJob = new Map<string, JobOutput[]>();
  if (jobIds.length === 0) return byJob;
  const rows = await db
    .selectFrom('job_outputs')
    .selectAll()
    .where('job_id', 'in', [...jobIds])
    .where('deleted_at', 'is', null)
    .orderBy('id')
    .execute();
  for (const row of rows) byJob.set(row.job_id, [...(byJob.get(row.job_id) ?? []), row]);
  return byJob;
}

/** A page of a user's jobs (listUserJobs) with each job's live outputs: the Create page's job feed. */
export async function listUserJobsWithOutputs(
  db: Executor,
  input: Parameters<typeof listUserJobs>[1],
): Promise<{ items: (Job & { outputs: JobOutput[] })[]; nextCursor: string | null }> {
  const page = await listUserJobs(db, input);
  const outputs = await outputsOfJobs(
    db,
    page.items.map((job) => job.id),
  );
  return {
    items: page.items.map((job) => ({ ...job, outputs: outputs.get(job.id) ?? [] })),
    nextCursor: page.nextCursor,
  };
}

/** A user's jobs by id (the ledger names the job each movement belongs to). */
export async function findUserJobs(db: Executor, userId: string, ids: readonly string[]): Promise<Job[]> {
  if (ids.length === 0) return [];
  return db
    .selectFrom('jobs')
    .selectAll()
    .where('user_id', '=', userId)
    .where('id', 'in', [...ids])
    .execute();
}

export const jobParams = (job: Job): Record<string, unknown> =>
  parseJson<Record<string, unknown>>(job.params);

/** A user's jobs, newest first (ids are time-ordered), optionally by kind and status. */
export async function listUserJobs(
  db: Executor,
  input: {
    userId: string;
    cursor?: string | null;
    limit: number;
    kind?: Job['kind'];
    status?: Job['status'];
  },
): Promise<{ items: Job[]; nextCursor: string | null }> {
  let query = db
    .selectFrom('jobs')
    .selectAll()
    .where('user_id', '=', input.userId)
    .orderBy('id', 'desc')
    .limit(input.limit + 1);
  if (input.cursor) query = query.where('id', '<', input.cursor);
  if (input.kind) query = query.where('kind', '=', input.kind);
  if (input.status) query = query.where('status', '=', input.status);
  return toPage(await query.execute(), input.limit, (j) => j.id);
}

/** Every user's jobs with the owner's email, for operators. */
export async function listAllJobs(
  db: Executor,
  input: { cursor?: string | null; limit: number; status?: Job['status'] },
): Promise<{ items: (Job & { user_email: string })[]; nextCursor: string | null }> {
  let query = db
    .selectFrom('jobs')
    .innerJoin('users', 'users.id', 'jobs.user_id')
    .selectAll('jobs')
    .select('users.email as user_email')
    .orderBy('jobs.id', 'desc')
    .limit(input.limit + 1);
  if (input.cursor) query = query.where('jobs.id', '<', input.cursor);
  if (input.status) query = query.where('jobs.status', '=', input.status);
  return toPage(await query.execute(), input.limit, (j) => j.id);
}
