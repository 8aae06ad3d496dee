import type { Job } from '../../db/schema.ts';
import { logger } from '../logger.ts';
import { jobDuration, jobTransitions } from './metrics.ts';

export type JobTransition = 'queued' | 'submitted' | 'succeeded' | 'failed' | 'refunded' | 'canceled';

/** The job fields a transition line needs; any job row has them. */
export type JobFacts = Pick<Job, 'id' | 'user_id' | 'provider' | 'model'> & Partial<Pick<Job, 'created_at'>>;

/**
 * The request that queued each job still in flight in this process, so the runner's lines for that job
 * (succeeded, failed, refunded) carry the same request id as the request line. Bounded; a job run by
 * another process simply has none.
 */
const requestOfJob = new Map<string, string>();
const MAX_REMEMBERED = 10_000;
const FINAL: ReadonlySet<JobTransition> = new Set(['succeeded', 'failed', 'canceled']);

/**
 * Logs one job transition as a JSON line and counts it: `jobTransition(job, 'failed', { code })`.
 * `durationMs` is measured from the job's creation when `created_at` is known. `requestId` is the
 * queuing request's (given with `queued`, remembered for the job's later lines in this process).
 */
export function jobTransition(
  job: JobFacts,
  transition: JobTransition,
  extra: {
    code?: string | null;
    amount?: number;
    now?: number;
    requestId?: string;
    [field: string]: unknown;
  } = {},
): void {
  const { code, now, requestId: given, ...rest } = extra;
  if (transition === 'queued' && given) {
    if (requestOfJob.size >= MAX_REMEMBERED) requestOfJob.delete(requestOfJob.keys().next().value!);
    requestOfJob.set(job.id, given);
  }
  const requestId = given ?? requestOfJob.get(job.id);
  const durationMs =
    job.created_at !== undefined && transition !== 'queued'
      ? (now ?? Date.now()) - job.created_at
      : undefined;
  jobTransitions.inc({ transition, model: job.model, provider: job.provider, code: code ?? '' });
  if (FINAL.has(transition) && durationMs !== undefined) {
    jobDuration.observe({ status: transition, model: job.model }, Math.max(0, durationMs) / 1000);
  }
  const level = transition === 'failed' ? 'warn' : 'info';
  logger[level](`job ${transition}`, {
    requestId,
    jobId: job.id,
    userId: job.user_id,
    provider: job.provider,
    model: job.model,
    ...(code ? { code } : {}),
    ...(durationMs !== undefined ? { durationMs } : {}),
    ...rest,
  });
  // Refunds are written in the same transaction as the final status, so their lines come first.
  if (FINAL.has(transition)) requestOfJob.delete(job.id);
}
