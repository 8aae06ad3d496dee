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
  if (!done) {
    const now = await findJob(deps.db, job.id);
    if (now && (now.status === 'canceled' || now.status === 'failed')) {
      await Promise.allSettled(stored.map((o) => deps.storage.delete(o.key)));
    }
  }
  return { kind: 'done' };
}
