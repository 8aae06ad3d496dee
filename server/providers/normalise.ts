import type { ProviderState } from './provider.ts';

/**
 * Spellings seen across providers (DashScope upper case, Ark/OpenAI-style lower case, Kling "succeed",
 * British "cancelled"). Compared after upper-casing and turning spaces and dashes into underscores.
 */
const SPELLINGS: Record<string, ProviderState> = {
  PENDING: 'queued',
  QUEUED: 'queued',
  QUEUING: 'queued',
  QUEUEING: 'queued',
  SUBMITTED: 'queued',
  CREATED: 'queued',
  WAITING: 'queued',
  RUNNING: 'running',
  IN_PROGRESS: 'running',
  PROCESSING: 'running',
  STARTED: 'running',
  GENERATING: 'running',
  // DashScope lists SUSPENDED as a rare, non-terminal state.
  SUSPENDED: 'running',
  SUCCEEDED: 'succeeded',
  SUCCEED: 'succeeded',
  SUCCESS: 'succeeded',
  SUCCESSFUL: 'succeeded',
  COMPLETED: 'succeeded',
  COMPLETE: 'succeeded',
  DONE: 'succeeded',
  FINISHED: 'succeeded',
  FAILED: 'failed',
  FAILURE: 'failed',
  FAIL: 'failed',
  ERROR: 'failed',
  EXPIRED: 'failed',
  CANCELED: 'canceled',
  CANCELLED: 'canceled',
  CANCEL: 'canceled',
  UNKNOWN: 'unknown',
};

/** Maps any provider's task status to a ProviderState; anything unrecognised is 'unknown'. */
export const normaliseState = (raw: unknown): ProviderState => {
  if (typeof raw !== 'string') return 'unknown';
  const key = raw
    .trim()
    .toUpperCase()
    .replace(/[\s-]+/g, '_');
  return SPELLINGS[key] ?? 'unknown';
};

/** Final states: polling stops here. */
export const isTerminalState = (state: ProviderState): boolean =>
  state === 'succeeded' || state === 'failed' || state === 'canceled' || state === 'unknown';
