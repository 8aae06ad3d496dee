import { createHash } from 'node:crypto';
import type { Kysely } from 'kysely';
import { affectedRows, isUniqueViolation } from '../../db/dialect.ts';
import type { Database, Job, JobOutput } from '../../db/schema.ts';
import { type Executor, inTransaction } from '../../db/transaction.ts';
import { type AppCode, AppError } from '../../shared/errors.ts';
import type { ModelInfo } from '../../shared/models.ts';
import { quote, validateGenerationParams, withDefaults } from '../../shared/pricing.ts';
import type { ProviderRegistry } from '../providers/registry.ts';
import type { Storage } from '../storage/storage.ts';
import { moveCredits } from './billing.ts';
import type { Clock } from './clock.ts';
import { newId } from './ids.ts';
import type { JobEvents } from './jobs/events.ts';
import {
  findJob,
  findJobByIdempotencyKey,
  findUserJob,
  insertJob,
  isFinal,
  outputsOfJob,
  updateJob,
} from './jobs/store.ts';

export interface GenerationDeps {
  db: Kysely<Database>;
  providers: ProviderRegistry;
  clock: Clock;
  events: JobEvents;
  /** Where outputs live; image-to-video needs a URL the provider can fetch. */
  storage?: Pick<Storage, 'kind'>;
}

/** What the user asked for, after zod: the same shape for images and videos. */
export interface GenerationRequestInput {
  kind: 'image' | 'video';
  prompt: string;
  negativePrompt?: string;
  model?: string;
  size?: string;
  n?: number;
  seed?: number;
  durationSeconds?: number;
  resolution?: string;
  imageOutputId?: string;
  dryRun?: boolean;
  idempotencyKey?: string;
}

export type StartResult =
  | { dryRun: true; model: ModelInfo; quote: number; params: Record<string, unknown> }
  | { dryRun: false; job: Job; reused: boolean };

/** Canonical hash of what decides the work and its price, for idempotency-key comparisons. */
function requestHash(
  input: GenerationRequestInput,
  model: ModelInfo,
  params: Record<string, unknown>,
): string {
  const canonical = JSON.stringify([
    input.kind,
    model.id,
    input.prompt,
    input.negativePrompt ?? null,
    params,
  ]);
  return createHash('sha256').update(canonical).digest('hex');
}

/**
 * Validates and prices a request, then, unless it is a dry run, charges the credits and inserts the job
 * in one transaction. The same idempotency key with the same request returns the first job, charged once.
 */
export async function startGeneration(
  deps: GenerationDeps,
  input: GenerationRequestInput & { userId: string },
): Promise<StartResult> {
  const { model } = deps.providers.resolve(input.model, input.kind, {
    withImage: input.imageOutputId !== undefined,
  });
  const filled = withDefaults(model, {
    n: input.n,
    size: input.size,
    durationSeconds: input.durationSeconds,
    resolution: input.resolution,
  });
  const problems = validateGenerationParams(model, {
    ...filled,
    negativePrompt: input.negativePrompt,
    hasImageInput: input.imageOutputId !== undefined,
  });
  if (problems.length > 0) {
    throw new AppError('VALIDATION', problems.map((p) => `${p.field}: ${p.message}`).join('; '), {
      reason: 'PARAMS_NOT_OFFERED',
      params: { model: model.id, fields: problems.map((p) => p.field).join(',') },
    });
  }
  if (input.imageOutputId !== undefined) {
    const source = await deps.db
      .selectFrom('job_outputs')
      .select(['id', 'kind'])
      .where('id', '=', input.imageOutputId)
      .where('user_id', '=', input.userId)
      .where('deleted_at', 'is', null)
      .executeTakeFirst();
    if (!source)
      throw new AppError('NOT_FOUND', 'The image to animate was not found', {
        reason: 'SOURCE_IMAGE_NOT_FOUND',
      });
    if (source.kind !== 'image')
      throw new AppError('VALIDATION', 'Only an image can be animated', { reason: 'NOT_AN_IMAGE' });
    // A cloud provider fetches the first frame itself: a file on this server's local disk is out of its reach.
    if (deps.storage?.kind === 'local' && model.provider !== 'demo') {
      throw new AppError(
        'VALIDATION',
        `${model.id} needs the image in OSS to animate it; this server keeps outputs on local disk`,
        { reason: 'IMAGE_NOT_IN_OSS', params: { model: model.id } },
      );
    }
  }
  const params: Record<string, unknown> = {
    n: filled.n,
    ...(filled.size ? { size: filled.size } : {}),
    ...(filled.durationSeconds !== undefined ? { durationSeconds: filled.durationSeconds } : {}),
    ...(filled.resolution ? { resolution: filled.resolution } : {}),
    ...(input.negativePrompt ? { negativePrompt: input.negativePrompt } : {}),
    ...(input.seed !== undefined ? { seed: input.seed } : {}),
    ...(input.imageOutputId ? { imageOutputId: input.imageOutputId } : {}),
  };
  const cost = quote(model, filled);
  if (input.dryRun) return { dryRun: true, model, quote: cost, params };

  const hash = requestHash(input, model, params);
  if (input.idempotencyKey) {
    const existing = await findJobByIdempotencyKey(deps.db, input.userId, input.idempotencyKey);
    if (existing) return reuse(existing, hash);
  }

  const now = deps.clock.now();
  const jobId = newId();
  try {
    await inTransaction(deps.db, async (trx) => {
      // Charge first: the users row lock comes before the jobs insert's foreign-key check, so
      // concurrent generations queue on one lock instead of deadlocking (MySQL).
      await moveCredits(trx, {
        userId: input.userId,
        amount: -cost,
        kind: 'charge',
        jobId,
        note: `${model.id} ${input.kind}`,
        now,
      });
      await insertJob(trx, {
        id: jobId,
        user_id: input.userId,
        kind: input.kind,
        status: 'queued',
        stage: 'queued',
        progress: 0,
        status_sequence: 1,
        model: model.id,
        provider: model.provider,
        prompt: input.prompt,
        params: JSON.stringify(params),
        cost,
        refunded: 0,
        provider_task_id: null,
        attempts: 0,
        lease_owner: null,
        lease_until: null,
        next_attempt_at: now,
        idempotency_key: input.idempotencyKey ?? null,
        request_hash: hash,
        error_code: null,
        error_message: null,
        created_at: now,
        started_at: null,
        finished_at: null,
      });
    });
  } catch (error) {
    // Two requests with one key raced: the loser's transaction (and charge) rolled back.
    if (input.idempotencyKey && isUniqueViolation(error)) {
      const existing = await findJobByIdempotencyKey(deps.db, input.userId, input.idempotencyKey);
      if (existing) return reuse(existing, hash);
    }
    throw error;
  }
  deps.events.queued();
  return { dryRun: false, job: (await findJob(deps.db, jobId))!, reused: false };
}

function reuse(existing: Job, hash: string): StartResult {
  if (existing.request_hash !== hash) {
    throw new AppError(
      'IDEMPOTENCY_CONFLICT',
      'This idempotency key was already used for a different request',
      { reason: 'IDEMPOTENCY_KEY_REUSED' },
    );
  }
  return { dryRun: false, job: existing, reused: true };
}

/**
 * Fails a job that is still queued or running and refunds what was not yet refunded, in one
 * transaction. A no-op (false) when the job already reached a final status: refunds happen once.
 */
export async function failJob(
  deps: Pick<GenerationDeps, 'db' | 'clock' | 'events'>,
  job: Pick<Job, 'id' | 'user_id'>,
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
  return applied;
}

/**
 * Refunds cost - refunded, once: the conditional update on `refunded = 0` and the unique
 * (job_id, kind) ledger index both refuse a second refund.
 */
async function refundRemainder(trx: Executor, jobId: string, now: number, note: string, amount?: number) {
  const job = await trx
    .selectFrom('jobs')
    .select(['user_id', 'cost', 'refunded'])
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
 */
export async function completeJob(
  deps: Pick<GenerationDeps, 'db' | 'clock' | 'events'>,
  job: Job,
  outputs: StoredOutput[],
  options: { leaseOwner: string; paidOutputs: number },
): Promise<boolean> {
  const now = deps.clock.now();
  const applied = await inTransaction(deps.db, async (trx) => {
    const ok = await updateJob(
      trx,
      job.id,
      {
        status: 'succeeded',
        stage: 'done',
        progress: 100,
        finished_at: now,
        lease_owner: null,
        lease_until: null,
      },
      { status: ['running'], leaseOwner: options.leaseOwner },
    );
    if (!ok) return false;
    if (outputs.length > 0) {
      await trx
        .insertInto('job_outputs')
        .values(
          outputs.map((o) => ({
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
          })),
        )
        .execute();
    }
    const missing = options.paidOutputs - outputs.length;
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
  if (applied) deps.events.notify(job.id);
  return applied;
}

/** Cancels a queued or running job of the user's and refunds it; returns the job as it is now. */
export async function cancelJob(
  deps: Pick<GenerationDeps, 'db' | 'clock' | 'events' | 'providers'>,
  input: { userId: string; jobId: string },
): Promise<Job> {
  const job = await findUserJob(deps.db, input.userId, input.jobId);
  if (!job) throw new AppError('NOT_FOUND', 'Job not found', { reason: 'JOB_NOT_FOUND' });
  if (!isFinal(job.status)) {
    const canceled = await failJob(
      deps,
      job,
      { code: 'CANCELED', message: 'Canceled' },
      { status: 'canceled' },
    );
    if (canceled && job.provider_task_id) {
      // Best effort: the provider may not support it, or the task may be past the point of no return.
      const provider = deps.providers.get(job.provider);
      await provider?.cancel?.(job.provider_task_id).catch(() => undefined);
    }
  }
  return (await findJob(deps.db, job.id))!;
}

/** Waits until the job reaches a final status or the time is up; returns the job as last seen. */
export async function waitForJob(
  deps: Pick<GenerationDeps, 'db' | 'events'>,
  jobId: string,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<{ job: Job; outputs: JobOutput[] }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const job = (await findJob(deps.db, jobId))!;
    if (isFinal(job.status) || Date.now() >= deadline || signal?.aborted) {
      return { job, outputs: job.status === 'succeeded' ? await outputsOfJob(deps.db, jobId) : [] };
    }
    await deps.events.waitForChange(jobId, Math.min(500, deadline - Date.now()), signal);
  }
}
