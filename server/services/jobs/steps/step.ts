import type { Kysely } from 'kysely';
import type { Database, Job, JobUpdate } from '../../../../db/schema.ts';
import type { Provider } from '../../../providers/provider.ts';
import type { ProviderRegistry } from '../../../providers/registry.ts';
import type { Storage } from '../../../storage/storage.ts';
import type { Clock } from '../../clock.ts';
import type { JobEvents } from '../events.ts';
import type { FleetLimiter } from '../limiter.ts';

/** What the steps use; the runner passes it through without looking inside. */
export interface StepDeps {
  db: Kysely<Database>;
  storage: Storage;
  providers: ProviderRegistry;
  clock: Clock;
  events: JobEvents;
  limiter: FleetLimiter;
}

export interface StepOptions {
  /** Key prefix for outputs (OSS_PREFIX). */
  prefix: string;
  /** Where downloads are staged before upload. */
  tmpDir: string;
  allowPrivateNetwork: boolean;
  maxImageBytes?: number;
  maxVideoBytes?: number;
  /** Poll pacing when the provider gives no advice: age/8 kept between these. */
  pollIntervalMs: number;
  maxPollIntervalMs: number;
  /** Provider tasks live 24 h: past this age a job with no result fails and is refunded. */
  maxJobAgeMs: number;
}

export interface StepInput<C = unknown> {
  job: Job;
  /** This worker's lease_owner: guards every write the step makes. */
  owner: string;
  /** Scheduling time (leases, next_attempt_at); job ages use deps.clock. */
  now: () => number;
  signal: AbortSignal;
  deps: StepDeps;
  options: StepOptions;
  /** What the previous step handed over (a provider result, stored outputs). */
  carry: C;
  /**
   * Waits for `wait` without counting as a step in progress (a reserved rate-limit slot a moment
   * away): the runner may start another step meanwhile. The job stays leased.
   */
  idle?: <T>(wait: Promise<T>) => Promise<T>;
  /** A provider slot the runner reserved when it claimed the job: this step's request goes out then. */
  slot?: number;
}

export type StepName = 'submit' | 'poll' | 'persist' | 'settle';

/** What happens next, as the runner applies it. */
export type StepOutcome =
  /** Hand the job back to wait in the database until `until`, writing `patch` with it. */
  | { kind: 'wait'; until: number; patch?: JobUpdate }
  /** Keep the job and run `step` now, handing it `carry`. */
  | { kind: 'next'; step: StepName; carry?: unknown }
  /** Settled (or no longer ours): nothing left to do. */
  | { kind: 'done' }
  /**
   * Fail the job and refund it (settle.failJob). `unconfirmed`: keys whose upload failed but may have
   * landed, deleted once the job is failed (only its lease holder may: another worker may own the key).
   */
  | { kind: 'fail'; code: string; message: string; unconfirmed?: string[] };

export type Step<C = unknown> = (input: StepInput<C>) => Promise<StepOutcome>;

/** The job was canceled or reclaimed while a step worked on it: stop, write nothing more. */
export class Abandoned extends Error {}

/** Where a claimed job resumes: a job with a provider task is polled, never submitted again. */
export const firstStep = (job: Pick<Job, 'provider_task_id'>): StepName =>
  job.provider_task_id ? 'poll' : 'submit';

/** Sleeps until `at` (a reserved rate-limit slot, at most a second away). */
export const sleepUntil = (at: number, now: () => number, signal: AbortSignal): Promise<void> =>
  new Promise((resolve, reject) => {
    const ms = at - now();
    if (signal.aborted) return reject(new Abandoned());
    if (ms <= 0) return resolve();
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(new Abandoned());
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });

/** Past the maximum age a job that still has no result fails (refunded). */
export const tooOld = (input: StepInput): boolean =>
  input.deps.clock.now() - input.job.created_at > input.options.maxJobAgeMs;

/**
 * The job's provider, or the outcome that ends the job before a step asks it anything: the provider
 * is not configured here, or the job is past its maximum age (`tooLate` says what it was waiting for).
 */
export function providerOrFail(
  input: StepInput,
  tooLate: string,
): { provider: Provider } | { outcome: StepOutcome } {
  const provider = input.deps.providers.get(input.job.provider);
  if (!provider) {
    const message = `Provider ${input.job.provider} is not configured on this server`;
    return { outcome: { kind: 'fail', code: 'PROVIDER_FAILED', message } };
  }
  if (tooOld(input)) return { outcome: { kind: 'fail', code: 'PROVIDER_TIMEOUT', message: tooLate } };
  return { provider };
}
