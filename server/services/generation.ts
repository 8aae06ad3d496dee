import { createHash } from 'node:crypto';
import type { Kysely } from 'kysely';
import { isUniqueViolation } from '../../db/dialect.ts';
import type { Database, Job, JobOutput } from '../../db/schema.ts';
import { inTransaction } from '../../db/transaction.ts';
import { AppError, isAppError } from '../../shared/errors.ts';
import type { ModelInfo } from '../../shared/models.ts';
import { extended } from '../../shared/objects.ts';
import { quote, validateGenerationParams, withDefaults } from '../../shared/pricing.ts';
import { jobTransition } from '../observability/jobs.ts';
import type { ProviderRegistry } from '../providers/registry.ts';
import type { Storage } from '../storage/storage.ts';
import { moveCredits } from './billing.ts';
import type { Clock } from './clock.ts';
import { newId } from './ids.ts';
import type { JobEvents } from './jobs/events.ts';
import { deliveredOutputs } from './jobs/feed.ts';
import { failJob } from './jobs/settle.ts';
import {
  findJob,
  findJobByIdempotencyKey,
  findUserJob,
  insertJob,
  isFinal,
  outputsOfJob,
} from './jobs/store.ts';

// Settling lives in jobs/settle.ts; these names stay importable from here.
export { completeJob, failJob, type StoredOutput } from './jobs/settle.ts';

export interface GenerationDeps {
  db: Kysely<Database>;
  providers: ProviderRegistry;
  clock: Clock;
  events: JobEvents;
  /** Where outputs live; image-to-video needs a URL the provider can fetch. */
  storage?: Pick<Storage, 'kind'>;
  /** The HTTP request queuing the job: its job lines carry this id. */
  requestId?: string;
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
  const problems = validateGenerationParams(
    model,
    extended(filled, {
      negativePrompt: input.negativePrompt,
      hasImageInput: input.imageOutputId !== undefined,
    }),
  );
  if (problems.length > 0) {
    throw new AppError('VALIDATION', problems.map((p) => `${p.field}: ${p.message}`).join('; '), {
      reason: 'PARAMS_NOT_OFFERED',
      params: { model: model.id, fields: problems.map((p) => p.field).join(',') },
      fields: problems.map((p) => p.field),
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
      throw new AppError('VALIDATION', 'Only an image can be animated', {
        reason: 'NOT_AN_IMAGE',
        fields: ['imageOutputId'],
      });
    // A cloud provider fetches the first frame itself: a file on this server's local disk is out of its reach.
    if (deps.storage?.kind === 'local' && model.provider !== 'demo') {
      throw new AppError(
        'VALIDATION',
        `${model.id} needs the image in OSS to animate it; this server keeps outputs on local disk`,
        { reason: 'IMAGE_NOT_IN_OSS', params: { model: model.id }, fields: ['imageOutputId'] },
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

  const now = deps.clock.now();
  const jobId = newId();
  const paramsJson = JSON.stringify(params);
  // The row as inserted: the answer needs no read back.
  const row: Job = {
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
    params: paramsJson,
    cost,
    refunded: 0,
    provider_task_id: null,
    submit_sent_at: null,
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
  };
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
      await insertJob(trx, { ...row, params: paramsJson });
    });
  } catch (error) {
    // A key already used (a retry, or two requests racing): the unique (user_id, idempotency_key)
    // refused the insert and the transaction, charge included, rolled back; a retry the balance no
    // longer covers failed at the charge. Either way the first job is the answer. A first request pays
    // no lookup: the lookup happens only here.
    if (input.idempotencyKey && (isUniqueViolation(error) || isAppError(error))) {
      const existing = await findJobByIdempotencyKey(deps.db, input.userId, input.idempotencyKey);
      if (existing) return reuse(existing, hash);
    }
    throw error;
  }
  deps.events.queued();
  jobTransition(row, 'queued', { cost, requestId: deps.requestId });
  return { dryRun: false, job: row, reused: false };
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

/**
 * Waits until the job reaches a final status or the time is up; returns the job as last seen. `known` is
 * the row as the caller has it (just inserted, or found by its idempotency key): nothing is read again
 * to start, and nothing while it waits: the process's change feed, whose next look finds any change since
 * `known`, wakes it when the job changes.
 */
export async function waitForJob(
  deps: Pick<GenerationDeps, 'db' | 'events'>,
  known: Job,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<{ job: Job; outputs: JobOutput[] }> {
  const deadline = Date.now() + timeoutMs;
  const jobId = known.id;
  let job = known;
  while (!isFinal(job.status) && Date.now() < deadline && !signal?.aborted) {
    job =
      (await deps.events.feed.next(jobId, job.status_sequence, {
        timeoutMs: deadline - Date.now(),
        signal,
      })) ?? job;
  }
  if (job.status !== 'succeeded') return { job, outputs: [] };
  return { job, outputs: deliveredOutputs(job) ?? (await outputsOfJob(deps.db, jobId)) };
}
