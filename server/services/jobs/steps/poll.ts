import { isAppError } from '../../../../shared/errors.ts';
import { logger } from '../../../logger.ts';
import type { PollResult, Provider } from '../../../providers/provider.ts';
import { Abandoned, providerOrFail, type StepInput, type StepOutcome, sleepUntil } from './step.ts';

/** How long a job waits before its next poll: the provider's advice, else age/8 within the options. */
export function nextPollDelay(
  input: StepInput,
  provider: Provider,
  polls: number,
  progress?: number,
): number {
  const ageMs = Math.max(0, input.now() - (input.job.started_at ?? input.job.created_at));
  const advice = provider.suggestedPollDelayMs?.(polls, { kind: input.job.kind, ageMs, polls, progress });
  if (advice !== undefined) return advice;
  const { pollIntervalMs, maxPollIntervalMs } = input.options;
  return Math.min(maxPollIntervalMs, Math.max(pollIntervalMs, Math.round(ageMs / 8)));
}

/** Backoff after a failed poll (provider unreachable, 5xx, timeout): grows with age, at most a minute. */
const retryDelay = (input: StepInput): number => {
  const ageMs = Math.max(0, input.now() - (input.job.started_at ?? input.job.created_at));
  return Math.min(60_000, Math.max(input.options.pollIntervalMs, Math.round(ageMs / 10)));
};

/**
 * What a provider answer means for the job: still working → wait (with progress), succeeded → store
 * the results now, anything else → fail (refunded).
 */
export function judge(input: StepInput, provider: Provider, result: PollResult, polls = 1): StepOutcome {
  if (result.state === 'queued' || result.state === 'running') {
    const progress =
      result.progress === undefined ? input.job.progress : 5 + Math.round(result.progress * 0.75);
    const changed = progress > input.job.progress || input.job.stage !== 'generating';
    return {
      kind: 'wait',
      until: input.now() + nextPollDelay(input, provider, polls, result.progress),
      patch: changed ? { stage: 'generating', progress: Math.min(99, progress) } : undefined,
    };
  }
  if (result.state === 'succeeded') return { kind: 'next', step: 'persist', carry: result };
  return {
    kind: 'fail',
    code: result.error?.code ?? 'PROVIDER_FAILED',
    message: result.error?.message ?? `The provider reported the task ${result.state}`,
  };
}

/**
 * One poll of the job's provider task, within the account's query limit. A failed poll is not a failed
 * task (the provider may still finish it): the job waits and asks again, until its maximum age.
 */
export async function pollStep(input: StepInput): Promise<StepOutcome> {
  const { job, deps, signal } = input;
  const found = providerOrFail(input, 'The provider did not finish in time');
  if ('outcome' in found) return found.outcome;
  const { provider } = found;
  const limit = provider.limits?.query;
  if (limit) {
    const slot =
      input.slot !== undefined ? { ok: true as const, at: input.slot } : await deps.limiter.reserve(limit);
    if (!slot.ok) return { kind: 'wait', until: slot.retryAt };
    const wait = sleepUntil(slot.at, input.now, signal);
    await (input.idle ? input.idle(wait) : wait);
  }
  let result: PollResult;
  try {
    const carried = (input.carry as { taskId?: string } | undefined)?.taskId;
    result = await provider.poll(carried ?? job.provider_task_id!, { signal });
  } catch (error) {
    if (signal.aborted) throw new Abandoned();
    if (isAppError(error) && (error.code === 'CONTENT_REJECTED' || error.code === 'VALIDATION')) throw error;
    if (isAppError(error) && error.code === 'RATE_LIMITED') {
      const until = input.now() + (error.retryAfterMs ?? 5_000);
      // The whole fleet pauses for a moment; this job waits as told.
      if (limit) await deps.limiter.backoff(limit, until);
      return { kind: 'wait', until };
    }
    logger.warn('job: poll failed, will ask again', { jobId: job.id, error });
    return { kind: 'wait', until: input.now() + retryDelay(input) };
  }
  return judge(input, provider, result);
}
