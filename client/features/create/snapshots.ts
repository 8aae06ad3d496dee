import type { JobView } from '../../../shared/schemas/generation.ts';

const FINAL = new Set(['succeeded', 'failed', 'canceled']);
export const isFinal = (job: Pick<JobView, 'status'>) => FINAL.has(job.status);

/** jobs.watch yields tracked events; accept both `{id, data}` and a bare snapshot. */
export function unwrapSnapshot(event: unknown): JobView | undefined {
  if (!event || typeof event !== 'object') return undefined;
  const record = event as { data?: unknown; status?: unknown };
  if (record.data && typeof record.data === 'object' && 'status' in record.data)
    return record.data as JobView;
  if (typeof record.status === 'string') return event as JobView;
  return undefined;
}

/** Keeps the newest snapshot: an older statusSequence never overwrites a newer one. */
export const newer = <J extends JobView>(current: J | undefined, next: J) =>
  !current || next.statusSequence >= current.statusSequence ? next : current;
