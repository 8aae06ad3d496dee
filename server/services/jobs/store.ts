import { sql } from 'kysely';
import { affectedRows, forceIndex, parseJson, unionAll } from '../../../db/dialect.ts';
import { toPage } from '../../../db/paging.ts';
import type { Job, JobOutput, JobUpdate, NewJob } from '../../../db/schema.ts';
import type { Executor } from '../../../db/transaction.ts';
import { extended } from '../../../shared/objects.ts';

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
  /** Applies only while status_sequence is still this; it becomes this + 1, known without a read. */
  sequence?: number;
}

/** Updates a job and bumps its status_sequence; the guard makes it conditional. Returns whether it applied. */
export async function updateJob(
  db: Executor,
  id: string,
  patch: JobUpdate,
  guard: JobGuard = {},
): Promise<boolean> {
  const { sequence } = guard;
  let query = db
    .updateTable('jobs')
    .set((eb) =>
      extended(patch, {
        status_sequence: sequence === undefined ? eb('status_sequence', '+', 1) : sequence + 1,
      }),
    )
    .where('id', '=', id);
  if (guard.status) query = query.where('status', 'in', guard.status);
  if (guard.leaseOwner) query = query.where('lease_owner', '=', guard.leaseOwner);
  if (sequence !== undefined) query = query.where('status_sequence', '=', sequence);
  return affectedRows(await query.executeTakeFirst()) === 1;
}

/**
 * The row as the worker holding it knows it, after one of its own lease-guarded writes applied: the
 * patch, and status_sequence one higher (while it holds the lease, a cancel is the only other writer,
 * and that takes the lease). What it knows is checked before it is relied on: see completeJob.
 */
export function applyToHeld(job: Job, patch: JobUpdate): void {
  Object.assign(job, patch, { status_sequence: Number(job.status_sequence) + 1 });
}

export interface ClaimInput {
  owner: string;
  limit: number;
  leaseMs: number;
  now: number;
  /** USER_MAX_ACTIVE_JOBS: a user's running jobs (at a provider or being stored) before their queued ones wait. */
  userMaxActive: number;
}

/** A job due for a step, as the claim query read it before taking it. */
export interface Candidate {
  job: Job;
  /** What its first step asks the provider: a submit (no task yet) or a poll. */
  op: 'submit' | 'poll';
}

/** Every column of jobs, in order: for a UNION that carries whole rows beside rows of another shape. */
const JOB_COLUMNS = [
  'id',
  'user_id',
  'kind',
  'status',
  'stage',
  'progress',
  'status_sequence',
  'model',
  'provider',
  'prompt',
  'params',
  'cost',
  'refunded',
  'provider_task_id',
  'submit_sent_at',
  'attempts',
  'lease_owner',
  'lease_until',
  'next_attempt_at',
  'idempotency_key',
  'request_hash',
  'error_code',
  'error_message',
  'created_at',
  'started_at',
  'finished_at',
] as const satisfies readonly (keyof Job)[];
// A column added to jobs and not listed above fails to compile here.
const everyJobColumn: Exclude<keyof Job, (typeof JOB_COLUMNS)[number]> extends never ? true : never = true;
void everyJobColumn;

/**
 * Jobs due for a step that no live worker holds: running ones whose next poll is due (or whose worker
 * died), oldest first, and queued ones fairly across users — each user with room under `userMaxActive`
 * gets a turn, round-robin (within a turn, fewest jobs running first, then oldest), never more than their
 * room. At most `limit` of each kind, interleaved.
 *
 * The queue is never ranked as a whole. The first statement reads the due polls, the first `limit` due
 * queued jobs and each user's oldest due job and running count (a loose scan of `jobs_user_queue_idx`:
 * one index jump per user, however long their queue). Only when those first queued jobs miss some user's
 * turns (one user's long queue ahead of another's) does a second read each user's first jobs from the
 * same index. A `row_number()` over the whole queue, as before, cost MariaDB 61 ms of CPU a claim with
 * one user's 10,000 jobs queued; this costs 0.6–0.8 ms.
 */
export async function dueCandidates(
  db: Executor,
  input: Pick<ClaimInput, 'limit' | 'now' | 'userMaxActive'> & {
    /** Also jobs falling due by then (a claim gathers the next moment's steps; they start when due). */
    dueBy?: number;
  },
): Promise<Candidate[]> {
  if (input.limit <= 0) return [];
  const { now, limit, userMaxActive } = input;
  const dueBy = Math.max(now, input.dueBy ?? now);
  // Rows of three shapes in one UNION, told apart by `part`: due polls and the first due queued jobs
  // (whole rows), and each user's queue head (user_id, head, active; the other columns null).
  type Row = Job & { part: 'poll' | 'queued' | 'head'; head: number | null; active: number | null };
  const jobColumns = sql.join(JOB_COLUMNS.map((c) => sql.ref(`jobs.${c}`)));
  // Each user's oldest due job and running count. Users at the cap wait. With more users than `limit`,
  // the first turn alone fills the claim: the users with fewest jobs running, then whose oldest job is
  // oldest. Grouping by (status, user_id) with the due time only in HAVING lets MariaDB jump from user to
  // user in the index ("Using index for group-by"); a range on next_attempt_at in the WHERE made it read
  // every entry.
  const headColumns = sql.join(
    JOB_COLUMNS.map((c) => (c === 'user_id' ? sql.ref('h.user_id') : sql`null as ${sql.ref(c)}`)),
  );
  const polls = sql`
    select ${jobColumns}, 'poll' as part, null as head, null as active from jobs
    where status = 'running' and next_attempt_at <= ${dueBy}
      and (lease_until is null or lease_until < ${now})
    order by next_attempt_at
    limit ${limit}`;
  // The first due queued jobs, whoever's: when users' jobs are interleaved in time (the usual case),
  // these already hold every user's turns and no second statement is needed.
  const queued = sql`
    select ${jobColumns}, 'queued' as part, null as head, null as active from jobs
    where status = 'queued' and next_attempt_at <= ${dueBy}
    order by next_attempt_at, id
    limit ${limit}`;
  const heads = sql`
    select ${headColumns}, 'head' as part, min(h.next_attempt_at) as head,
      (select count(*) from jobs r where r.status = 'running' and r.user_id = h.user_id) as active
    from jobs h
    where h.status = 'queued'
    group by h.status, h.user_id
    having min(h.next_attempt_at) <= ${dueBy} and active < ${userMaxActive}
    order by active, head
    limit ${limit}`;
  const { rows } = await sql<Row>`${unionAll(db, [polls, queued, heads])}`.execute(db);
  const due: Candidate[] = [];
  const window: Job[] = [];
  const withRoom: { userId: string; room: number; active: number }[] = [];
  for (const { part, head: _, active, ...job } of rows) {
    if (part === 'head')
      withRoom.push({ userId: job.user_id, room: userMaxActive - Number(active), active: Number(active) });
    else if (part === 'queued') window.push(job);
    else due.push({ job, op: job.provider_task_id === null ? 'submit' : 'poll' });
  }
  const submits = await queuedInTurn(db, {
    heads: withRoom,
    dueBy,
    limit,
    window: { rows: window, complete: window.length < limit },
  });
  // Interleave, so neither kind starves the other when slots are few.
  const out: Candidate[] = [];
  for (let i = 0; i < due.length || i < submits.length; i++) {
    for (const c of [due[i], submits[i]]) if (c) out.push(c);
  }
  return out;
}

/**
 * The queued jobs of `heads` (users with room, fewest running then oldest queue first) to start next, at
 * most `limit`, in turn: every user's oldest due job, then every user's second, and so on (within a turn,
 * the user with fewest jobs running first, then by due time). Each user
 * gives at most their room and their share of the claim (`limit` over the users, rounded up): when some
 * have fewer jobs than their share, the claim takes fewer and the next one takes the rest. `window` is
 * the first due queued jobs in due order (`complete` when it holds them all): when it holds every
 * user's turns they are taken from it, otherwise one statement reads each user's first jobs.
 */
async function queuedInTurn(
  db: Executor,
  input: {
    heads: { userId: string; room: number; active: number }[];
    dueBy: number;
    limit: number;
    window: { rows: Job[]; complete: boolean };
  },
): Promise<Candidate[]> {
  const { heads, dueBy, limit, window } = input;
  if (heads.length === 0) return [];
  const share = Math.ceil(limit / heads.length);
  const turns = new Map(heads.map((h) => [h.userId, Math.min(share, h.room)]));
  // A user's jobs in the window are the first of their queue (both in due order, ties by id).
  const fromWindow = new Map<string, Job[]>();
  for (const job of window.rows) {
    const taken = fromWindow.get(job.user_id) ?? [];
    if (taken.length < (turns.get(job.user_id) ?? 0)) taken.push(job);
    fromWindow.set(job.user_id, taken);
  }
  const covered =
    window.complete || heads.every((h) => (fromWindow.get(h.userId)?.length ?? 0) >= turns.get(h.userId)!);
  let rows: Job[];
  if (covered) rows = heads.flatMap((h) => fromWindow.get(h.userId) ?? []);
  else {
    const queues = heads.map(
      (h) => sql`
        select * from jobs ${forceIndex(db, 'jobs_user_queue_idx')}
        where status = 'queued' and user_id = ${h.userId} and next_attempt_at <= ${dueBy}
        order by next_attempt_at, id
        limit ${turns.get(h.userId)!}`,
    );
    rows = (await sql<Job>`${unionAll(db, queues)}`.execute(db)).rows;
  }
  const turn = new Map<string, number>();
  const active = new Map(heads.map((h) => [h.userId, h.active]));
  const ranked = rows.map((job) => {
    const rn = (turn.get(job.user_id) ?? 0) + 1;
    turn.set(job.user_id, rn);
    return { job, rn, active: active.get(job.user_id) ?? 0, due: Number(job.next_attempt_at) };
  });
  // Within a turn, the user with fewest jobs running goes first, then the oldest job: a claim with room
  // for one (the usual case under load) takes the single job of a user with nothing running before the
  // next of a user with many, however long the latter's queue has waited.
  ranked.sort(
    (a, b) =>
      a.rn - b.rn ||
      a.active - b.active ||
      a.due - b.due ||
      (a.job.id < b.job.id ? -1 : a.job.id > b.job.id ? 1 : 0),
  );
  return ranked.slice(0, limit).map(({ job }) => ({ job, op: 'submit' as const }));
}

/**
 * Takes the given jobs, as read, for `owner` unless a live worker holds them or they changed since
 * (each row is guarded by the next_attempt_at read: every hand-back, requeue or settle moves it or the
 * status). No transaction: a guarded UPDATE takes each row at most once across processes. When every
 * row was taken, the claimed rows are the ones read with the claim applied (`asClaimed`), with no read
 * back; otherwise the rows this owner won are read back.
 */
export async function claimJobs(
  db: Executor,
  input: Pick<ClaimInput, 'owner' | 'leaseMs' | 'now'> & { jobs: Job[] },
): Promise<Job[]> {
  const { jobs } = input;
  if (jobs.length === 0) return [];
  const ids = jobs.map((j) => j.id);
  // MySQL evaluates SET left to right with the new values: the CASEs read status and lease_owner first.
  // asClaimed below is the same change, made to the rows as read. The primary key is forced on MySQL:
  // a range over a status index would take gap locks that deadlock with concurrent job inserts.
  const guards = jobs.map(
    (j) => sql`(id = ${j.id} and next_attempt_at = ${j.next_attempt_at} and status = ${j.status})`,
  );
  const claimed = await sql`
    update jobs ${forceIndex(db, 'primary')}
    set stage = case when status = 'queued' then 'submitting' else stage end,
      status_sequence = status_sequence + case when status = 'queued' then 1 else 0 end,
      attempts = attempts + case when status = 'queued' or lease_owner is not null then 1 else 0 end,
      started_at = coalesce(started_at, ${input.now}),
      status = 'running',
      lease_owner = ${input.owner},
      lease_until = ${input.now + input.leaseMs}
    where id in (${sql.join(ids)}) and (${sql.join(guards, sql` or `)})
      and status in ('queued', 'running') and (lease_until is null or lease_until < ${input.now})`.execute(
    db,
  );
  const won = Number(claimed.numAffectedRows ?? 0);
  if (won === 0) return [];
  if (won === jobs.length) return jobs.map((job) => asClaimed(job, input));
  return db
    .selectFrom('jobs')
    .selectAll()
    .where('id', 'in', ids)
    .where('lease_owner', '=', input.owner)
    .where('status', '=', 'running')
    .execute();
}

/** A job row as claimJobs' UPDATE leaves it. */
export function asClaimed(job: Job, input: { owner: string; leaseMs: number; now: number }): Job {
  const queued = job.status === 'queued';
  return {
    ...job,
    stage: queued ? 'submitting' : job.stage,
    status_sequence: Number(job.status_sequence) + (queued ? 1 : 0),
    attempts: Number(job.attempts) + (queued || job.lease_owner !== null ? 1 : 0),
    started_at: job.started_at ?? input.now,
    status: 'running',
    lease_owner: input.owner,
    lease_until: input.now + input.leaseMs,
  };
}

/** Claims up to `limit` due jobs (dueCandidates, then claimJobs), with no regard to provider limits. */
export async function claimDueJobs(db: Executor, input: ClaimInput): Promise<Job[]> {
  const candidates = await dueCandidates(db, input);
  return claimJobs(db, extended(input, { jobs: candidates.slice(0, input.limit).map((c) => c.job) }));
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
    .set((eb) =>
      extended(input.patch ?? {}, {
        next_attempt_at: input.until,
        lease_owner: null,
        lease_until: null,
        ...(visible ? { status_sequence: eb('status_sequence', '+', 1) } : {}),
      }),
    )
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
