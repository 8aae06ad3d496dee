import { affectedRows } from '../../../../db/dialect.ts';
import type { Job, JobUpdate } from '../../../../db/schema.ts';
import type { Executor } from '../../../../db/transaction.ts';
import { AppError, isAppError } from '../../../../shared/errors.ts';
import { jobTransition } from '../../../observability/jobs.ts';
import { UNREACHABLE } from '../../../providers/http.ts';
import type { GenerationRequest, SubmitResult } from '../../../providers/provider.ts';
import type { Storage } from '../../../storage/storage.ts';
import { applyToHeld, jobParams, updateJob } from '../store.ts';
import { judge, nextPollDelay } from './poll.ts';
import { Abandoned, providerOrFail, type StepInput, type StepOutcome, sleepUntil } from './step.ts';

/** What the provider is asked to make, from the job row (and the user's own image to animate). */
export async function buildRequest(
  deps: { db: Executor; storage: Pick<Storage, 'urlFor'> },
  job: Job,
): Promise<GenerationRequest> {
  const params = jobParams(job);
  let imageUrl: string | undefined;
  if (typeof params.imageOutputId === 'string') {
    const source = await deps.db
      .selectFrom('job_outputs')
      .select('oss_path')
      .where('id', '=', params.imageOutputId)
      .where('user_id', '=', job.user_id)
      .executeTakeFirst();
    if (!source) throw new AppError('NOT_FOUND', 'The image to animate is gone');
    imageUrl = deps.storage.urlFor(source.oss_path);
  }
  return {
    kind: job.kind,
    model: job.model,
    prompt: job.prompt,
    negativePrompt: params.negativePrompt as string | undefined,
    size: params.size as string | undefined,
    n: (params.n as number | undefined) ?? 1,
    seed: params.seed as number | undefined,
    durationSeconds: params.durationSeconds as number | undefined,
    resolution: params.resolution as string | undefined,
    imageUrl,
  };
}

/**
 * The submitted transition: the provider's task id is on the row, so a crash from here on resumes by
 * polling and never submits again. Keeps the lease (for a provider that answered at once).
 */
export async function recordSubmitted(
  db: Executor,
  input: { job: Job; owner: string; taskId: string },
): Promise<boolean> {
  const patch: JobUpdate = { provider_task_id: input.taskId, stage: 'generating', progress: 5 };
  const ok = await updateJob(db, input.job.id, patch, { status: ['running'], leaseOwner: input.owner });
  if (ok) applyToHeld(input.job, patch);
  return ok;
}

/** Back to the queue until `until`, with no task at the provider (a 429, the provider unreachable). */
const requeue = (until: number): StepOutcome => ({
  kind: 'wait',
  until,
  patch: { status: 'queued', stage: 'queued', submit_sent_at: null },
});

/**
 * Notes on the row, under the lease, that the submit is about to go out. A worker that dies before the
 * task id is recorded leaves it behind, and the next worker fails the job instead of submitting again.
 */
async function markSubmitSent(input: StepInput): Promise<void> {
  const at = input.now();
  // Not a change a client sees: status_sequence stays.
  const result = await input.deps.db
    .updateTable('jobs')
    .set({ submit_sent_at: at })
    .where('id', '=', input.job.id)
    .where('status', '=', 'running')
    .where('lease_owner', '=', input.owner)
    .executeTakeFirst();
  if (affectedRows(result) !== 1) throw new Abandoned();
  input.job.submit_sent_at = at;
}

/**
 * Submits the job to its provider within the account's submit limit. The task id goes on the row in
 * the very next write (with the wait for the first poll), before anything else can fail. A 429 or an
 * unreachable provider puts the job back in the queue (nothing was created there); other refusals fail it.
 */
export async function submitStep(input: StepInput): Promise<StepOutcome> {
  const { job, deps, signal } = input;
  const found = providerOrFail(input, 'The provider could not take the job in time');
  if ('outcome' in found) return found.outcome;
  const { provider } = found;
  if (job.submit_sent_at != null && !provider.local) {
    // A worker died (or lost its lease) between sending the submit and recording the task id: the
    // provider may have made the task, which cannot be polled without its id. Never a second submit
    // (a second task, billed): the job fails and is refunded, as when a submit's connection breaks.
    return {
      kind: 'fail',
      code: 'PROVIDER_FAILED',
      message: 'The job was interrupted while it was being sent to the provider; it is not sent twice',
    };
  }
  const request = await buildRequest(deps, job);
  const limit = provider.limits?.submit;
  if (limit) {
    const slot =
      input.slot !== undefined ? { ok: true as const, at: input.slot } : await deps.limiter.reserve(limit);
    if (!slot.ok) return requeue(slot.retryAt);
    const wait = sleepUntil(slot.at, input.now, signal);
    await (input.idle ? input.idle(wait) : wait);
  }
  if (!provider.local) await markSubmitSent(input);
  let submitted: SubmitResult;
  try {
    // Not abortable: once the request is out the provider may have made the task, so a shutdown waits
    // for the answer and records the task id rather than risk a second submit (the call has its own
    // timeout).
    submitted = await provider.submit(request);
  } catch (error) {
    if (isAppError(error) && error.code === 'RATE_LIMITED') {
      const until = input.now() + (error.retryAfterMs ?? 5_000);
      // The whole fleet pauses for a moment; this job waits as told.
      if (limit) await deps.limiter.backoff(limit, until);
      return requeue(until);
    }
    if (isAppError(error) && error.reason === UNREACHABLE) {
      const age = input.now() - (job.started_at ?? job.created_at);
      return requeue(input.now() + Math.min(60_000, Math.max(input.options.pollIntervalMs, age / 10)));
    }
    throw error;
  }
  jobTransition(job, 'submitted', { now: input.now() });
  if (submitted.immediate) {
    if (!(await recordSubmitted(deps.db, { job, owner: input.owner, taskId: submitted.taskId }))) {
      return { kind: 'done' };
    }
    deps.events.notify(job.id, job);
    return judge(input, provider, submitted.immediate, 0);
  }
  const delay = nextPollDelay(input, provider, 0);
  if (delay <= 0) {
    // Done at once (the instant demo): poll it now. A local provider's task id is written with the
    // outputs (a crash before then submits again, which costs nothing); any other's first.
    if (provider.local) {
      job.provider_task_id = submitted.taskId;
      return { kind: 'next', step: 'poll', carry: { taskId: submitted.taskId } };
    }
    if (!(await recordSubmitted(deps.db, { job, owner: input.owner, taskId: submitted.taskId }))) {
      return { kind: 'done' };
    }
    deps.events.notify(job.id, job);
    return { kind: 'next', step: 'poll', carry: { taskId: submitted.taskId } };
  }
  return {
    kind: 'wait',
    until: input.now() + delay,
    patch: { provider_task_id: submitted.taskId, stage: 'generating', progress: 5 },
  };
}
