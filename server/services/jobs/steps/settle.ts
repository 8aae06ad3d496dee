import { completeJob } from '../settle.ts';
import { findJob } from '../store.ts';
import type { Persisted } from './persist.ts';
import type { StepInput, StepOutcome } from './step.ts';

/**
 * Records the stored outputs and marks the job succeeded (settle.completeJob, exactly once). When the
 * job was canceled meanwhile, the objects nobody will point at are deleted.
 */
export async function settleStep(input: StepInput<Persisted>): Promise<StepOutcome> {
  const { job, deps, owner } = input;
  const { stored, paid } = input.carry;
  const done = await completeJob(deps, job, stored, { leaseOwner: owner, paidOutputs: paid });
  if (!done) await deleteIfEndedWithout(deps, job.id, stored);
  return { kind: 'done' };
}

/**
 * Deletes what this worker stored for a job it could not complete, when the job ended canceled or failed
 * (nobody will point at those objects); never when another worker completed it (they are its outputs).
 */
export async function deleteIfEndedWithout(
  deps: Pick<StepInput<unknown>['deps'], 'db' | 'storage'>,
  jobId: string,
  stored: { key: string }[],
): Promise<void> {
  if (stored.length === 0) return;
  const now = await findJob(deps.db, jobId);
  if (now && (now.status === 'canceled' || now.status === 'failed')) {
    await Promise.allSettled(stored.map((o) => deps.storage.delete(o.key)));
  }
}
