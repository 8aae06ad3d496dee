import { sql } from 'kysely';
import { affectedRows, parseJson } from '../../../db/dialect.ts';
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

export interface ClaimInput {
  owner: string;
  limit: number;
  leaseMs: number;
  now: number;
  /** USER_MAX_ACTIVE_JOBS: a user's running jobs (at a provider or being stored) before their queued ones wait. */
  userMaxActive: number;
}

/** Ids of running jobs whose next poll is due and that no live worker holds. */
async function duePolls(db: Executor, input: ClaimInput): Promise<string[]> {
  const rows = await db
    .selectFrom('jobs')
    .select('id')
    .where('status', '=', 'running')
    .where('next_attempt_at', '<=', input.now)
    .where((eb) => eb.or([eb('lease_until', 'is', null), eb('lease_until', '<', input.now)]))
    .orderBy('next_attempt_at')
    .limit(input.limit)
    .execute();
  return rows.map((r) => r.id);
}

/**
 * Ids of queued jobs to submit, fair across users: each user with due jobs and fewer than
 * `userMaxActive` running ones gets a turn, round-robin, oldest first, and never more than their room.
 * One user's 10,000 queued jobs cost one group row here, not 10,000 scanned rows.
 */
async function dueSubmits(db: Executor, input: ClaimInput): Promise<string[]> {
  const users = await db
    .selectFrom('jobs as q')
    .select('q.user_id')
    .select((eb) => eb.fn.min('q.next_attempt_at').as('due'))
    .select((eb) =>
      eb
        .selectFrom('jobs as r')
        .select((e) => e.fn.countAll<number>().as('n'))
        .whereRef('r.user_id', '=', 'q.user_id')
        .where('r.status', '=', 'running')
        .as('active'),
    )
    .where('q.status', '=', 'queued')
    .where('q.next_attempt_at', '<=', input.now)
    .groupBy('q.user_id')
    .orderBy('due')
    .limit(200)
    .execute();
  const room = new Map<string, number>();
  for (const u of users) {
    const free = input.userMaxActive - Number(u.active ?? 0);
    if (free > 0) room.set(u.user_id, free);
  }
  if (room.size === 0) return [];
  const perUser = Math.min(input.limit, Math.max(...room.values()));
  const rows = await db
    .selectFrom((eb) =>
      eb
        .selectFrom('jobs')
        .select(['id', 'user_id', 'next_attempt_at'])
        .select(sql<number>`row_number() over (partition by user_id order by next_attempt_at, id)`.as('rn'))
        .where('status', '=', 'queued')
        .where('next_attempt_at', '<=', input.now)
        .where('user_id', 'in', [...room.keys()])
        .as('t'),
    )
    .select(['t.id', 't.user_id', 't.rn'])
    .where('t.rn', '<=', perUser)
    .orderBy('t.rn')
    .orderBy('t.next_attempt_at')
    .limit(input.limit * 4)
    .execute();
  const picked: string[] = [];
  for (const row of rows) {
    if (picked.length >= input.limit) break;
    if (Number(row.rn) <= (room.get(row.user_id) ?? 0)) picked.push(row.id);
  }
  return picked;
}

/**
 * Claims up to `limit` due jobs not leased by a live worker: running ones whose next poll is due (or
 * whose worker died), and queued ones fairly across users. No transaction: a guarded UPDATE takes each
 * row at most once across processes, and the rows read back are the ones this owner won.
 * A fresh claim of a queued job, or of one whose worker died, counts as an attempt; a due poll does not.
 */
export async function claimDueJobs(db: Executor, input: ClaimInput): Promise<Job[]> {
  if (input.limit <= 0) return [];
  // Both kinds every time: due polls must not starve submits (nor the reverse) when slots are few.
  const polls = await duePolls(db, input);
  const submits = await dueSubmits(db, input);
  // Interleave, so neither kind starves the other within one claim.
  const ids: string[] = [];
  for (let i = 0; ids.length < input.limit && (i < polls.length || i < submits.length); i++) {
    if (i < polls.length) ids.push(polls[i]!);
    if (i < submits.length && ids.length < input.limit) ids.push(submits[i]!);
  }
  if (ids.length === 0) return [];
  // MySQL evaluates SET left to right with the new values: the CASEs read status and lease_owner first.
  const claimed = await db
    .updateTable('jobs')
    .set((eb) => ({
      stage: sql<JobStage>`case when status = 'queued' then 'submitting' else stage end`,
      status_sequence: sql<number>`status_sequence + case when status = 'queued' then 1 else 0 end`,
      attempts: sql<number>`attempts + case when status = 'queued' or lease_owner is not null then 1 else 0 end`,
      started_at: eb.fn.coalesce('started_at', eb.val(input.now)),
      status: 'running',
      lease_owner: input.owner,
      lease_until: input.now + input.leaseMs,
    }))
    .where('id', 'in', ids)
    .where('status', 'in', ['queued', 'running'])
    .where((eb) => eb.or([eb('lease_until', 'is', null), eb('lease_until', '<', input.now)]))
    .executeTakeFirst();
  if (affectedRows(claimed) === 0) return [];
  return db
    .selectFrom('jobs')
    .selectAll()
    .where('id', 'in', ids)
    .where('lease_owner', '=', input.owner)
    .where('status', '=', 'running')
    .execute();
}

/**
 * Extends the leases of every job this owner holds, in one statement. Returns the ids no longer held
 * (canceled, or reclaimed after this process stalled); it reads them only when the count falls short.
 */
export async function renewLeases(
  db: Executor,
  input: { owner: string; ids: string[]; leaseMs: number; now: number },
): Promise<string[]> {
  if (input.ids.length === 0) return [];
  const result = await db
    .updateTable('jobs')
    .set({ lease_until: input.now + input.leaseMs })
    .where('id', 'in', input.ids)
    .where('lease_owner', '=', input.owner)
    .where('status', '=', 'running')
    .executeTakeFirst();
  if (affectedRows(result) === input.ids.length) return [];
  const held = await db
    .selectFrom('jobs')
    .select('id')
    .where('id', 'in', input.ids)
    .where('lease_owner', '=', input.owner)
    .where('status', '=', 'running')
    .execute();
  const still = new Set(held.map((r) => r.id));
  return input.ids.filter((id) => !still.has(id));
}

/**
 * Hands a job back to wait in the database until `until` (its next poll, or a rate-limit retry), with
 * whatever the step learnt (task id, progress). Visible changes bump status_sequence; a quiet wait
 * does not. False when the job is no longer this owner's.
 */
export async function releaseJob(
  db: Executor,
  input: { id: string; owner: string; until: number; patch?: JobUpdate },
): Promise<boolean> {
  const visible = input.patch !== undefined && Object.keys(input.patch).length > 0;
  const result = await db
    .updateTable('jobs')
    .set((eb) => ({
      ...input.patch,
      ...(visible ? { status_sequence: eb('status_sequence', '+', 1) } : {}),
      next_attempt_at: input.until,
      lease_owner: null,
      lease_until: null,
    }))
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
