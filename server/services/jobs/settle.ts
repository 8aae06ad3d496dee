/**
 * Settling a job, the one place its money and final state change together. Each function is one
 * transition, guarded in the database so it happens exactly once whatever races it:
 *
 * | transition  | from              | to                       | money                              |
 * |-------------|-------------------|--------------------------|------------------------------------|
 * | completeJob | running (ours)    | succeeded + outputs      | partial refund for missing outputs |
 * | failJob     | queued / running  | failed                   | refund of what is left, once       |
 * | failJob     | queued / running  | canceled (status option) | refund of what is left, once       |
 * | refundRemainder | (inside the two above) | refunded > 0    | one ledger row, guarded            |
 *
 * The submitted transition (a task id recorded) lives in steps/submit.ts (`recordSubmitted`).
 */
import type { Kysely } from 'kysely';
import { affectedRows, dialectOf } from '../../../db/dialect.ts';
import type { Database, Job, JobOutput, JobUpdate } from '../../../db/schema.ts';
import { type Executor, inTransaction } from '../../../db/transaction.ts';
import type { AppCode } from '../../../shared/errors.ts';
import { extended } from '../../../shared/objects.ts';
import { type JobFacts, jobTransition } from '../../observability/jobs.ts';
import { moveCredits } from '../billing.ts';
import type { Clock } from '../clock.ts';
import type { JobEvents } from './events.ts';
import { type JobGuard, updateJob } from './store.ts';

export interface SettleDeps {
  db: Kysely<Database>;
  clock: Clock;
  events: JobEvents;
}

/**
 * Fails a job that is still queued or running and refunds what was not yet refunded, in one
 * transaction. A no-op (false) when the job already reached a final status: refunds happen once.
 */
export async function failJob(
  deps: SettleDeps,
  job: JobFacts,
  error: { code: AppCode | string; message: string },
  options: { leaseOwner?: string; status?: 'failed' | 'canceled' } = {},
): Promise<boolean> {
  const now = deps.clock.now();
  const applied = await inTransaction(deps.db, async (trx) => {
    const ok = await updateJob(
      trx,
      job.id,
      {
        status: options.status ?? 'failed',
        stage: 'done',
        error_code: options.status === 'canceled' ? null : error.code,
        error_message: options.status === 'canceled' ? null : error.message.slice(0, 1000),
        finished_at: now,
        lease_owner: null,
        lease_until: null,
      },
      { status: ['queued', 'running'], leaseOwner: options.leaseOwner },
    );
    if (!ok) return false;
    await refundRemainder(
      trx,
      job.id,
      now,
      options.status === 'canceled' ? 'Canceled' : `Failed: ${error.code}`,
    );
    return true;
  });
  if (applied) deps.events.notify(job.id);
  if (applied)
    jobTransition(job, options.status ?? 'failed', {
      code: options.status === 'canceled' ? null : error.code,
      now,
      // What the user is told (provider messages come without keys): the log line says why too.
      ...(options.status === 'canceled' ? {} : { message: error.message.slice(0, 300) }),
    });
  return applied;
}

/**
 * Refunds cost - refunded, once: the conditional update on `refunded = 0` and the unique
 * (job_id, kind) ledger index both refuse a second refund.
 */
export async function refundRemainder(
  trx: Executor,
  jobId: string,
  now: number,
  note: string,
  amount?: number,
) {
  const job = await trx
    .selectFrom('jobs')
    .select(['user_id', 'cost', 'refunded', 'provider', 'model', 'created_at'])
    .where('id', '=', jobId)
    .executeTakeFirstOrThrow();
  const due = amount ?? job.cost - job.refunded;
  if (due <= 0) return;
  const result = await trx
    .updateTable('jobs')
    .set({ refunded: job.refunded + due })
    .where('id', '=', jobId)
    .where('refunded', '=', 0)
    .executeTakeFirst();
  if (affectedRows(result) !== 1) return;
  await moveCredits(trx, { userId: job.user_id, amount: due, kind: 'refund', jobId, note, now });
  jobTransition({ ...job, id: jobId }, 'refunded', { amount: due, now });
}

export interface StoredOutput {
  id: string;
  kind: 'image' | 'video';
  key: string;
  url: string;
  size: number;
  contentType: string;
  sha256: string;
  meta: Record<string, unknown>;
}

/**
 * Records the outputs and marks the job succeeded in one transaction, refunding the part paid for
 * outputs that were not stored. False when the job is no longer ours (canceled meanwhile).
 *
 * `job` is the row as the worker knows it. When its status_sequence is still the one in the database
 * (checked by the update itself), the completed row and its outputs are known without a read and go
 * to this process's waiters as they are; otherwise the update applies as usual and the feed reads them.
 */
export async function completeJob(
  deps: SettleDeps,
  job: Job,
  outputs: StoredOutput[],
  options: { leaseOwner: string; paidOutputs: number },
): Promise<boolean> {
  const now = deps.clock.now();
  const patch = {
    status: 'succeeded',
    stage: 'done',
    progress: 100,
    // Already on the row, except a local provider's instant task (submitStep).
    provider_task_id: job.provider_task_id,
    finished_at: now,
    lease_owner: null,
    lease_until: null,
  } satisfies JobUpdate;
  const guard = { status: ['running'], leaseOwner: options.leaseOwner } satisfies JobGuard;
  const sequence = Number(job.status_sequence);
  const inserted = outputs.map((o) => ({
    id: o.id,
    job_id: job.id,
    user_id: job.user_id,
    kind: o.kind,
    oss_url: o.url,
    oss_path: o.key,
    size: o.size,
    content_type: o.contentType,
    sha256: o.sha256,
    meta: JSON.stringify(o.meta),
    created_at: now,
    deleted_at: null,
    prompt: job.prompt,
  }));
  // The rows as a read right after the commit finds them (mysql2 hands JSON columns over parsed, and
  // the stored JSON has no keys for undefined values).
  const parsedJson = dialectOf(deps.db) === 'mysql';
  const rows: JobOutput[] = inserted.map((row) =>
    extended(row, {
      meta: parsedJson ? JSON.parse(row.meta) : row.meta,
      search_text: null,
      search_indexed: 0,
    }),
  );
  const missing = options.paidOutputs - outputs.length;
  let known = false;
  const applied = await inTransaction(deps.db, async (trx) => {
    known = await updateJob(trx, job.id, patch, extended(guard, { sequence }));
    if (!known && !(await updateJob(trx, job.id, patch, guard))) return false;
    if (rows.length > 0) {
      await trx.insertInto('job_outputs').values(inserted).execute();
    }
    if (missing > 0) {
      const partial = Math.floor((job.cost * missing) / options.paidOutputs);
      if (partial > 0)
        await refundRemainder(
          trx,
          job.id,
          now,
          `${missing} of ${options.paidOutputs} outputs failed`,
          partial,
        );
    }
    return true;
  });
  if (!applied) return false;
  // A partial refund changed `refunded` too: the feed reads that row.
  if (known && missing <= 0) {
    const completed: Job = { ...job, ...patch, status_sequence: sequence + 1 };
    deps.events.notify(
      job.id,
      completed,
      rows.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)),
    );
  } else deps.events.notify(job.id);
  jobTransition(job, 'succeeded', { outputs: outputs.length, now });
  return true;
}
