import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import type { Job } from '../../../db/schema.ts';
import { isAppError } from '../../../shared/errors.ts';
import { logger } from '../../logger.ts';
import { FleetLimiter } from './limiter.ts';
import { failJob } from './settle.ts';
import {
  Abandoned,
  firstStep,
  STEPS,
  type StepDeps,
  type StepOptions,
  type StepOutcome,
} from './steps/index.ts';
import type { Step, StepName } from './steps/step.ts';
import { claimDueJobs, releaseJob, renewLeases } from './store.ts';

export type RunnerDeps = Omit<StepDeps, 'limiter'> & { limiter?: FleetLimiter };

export interface RunnerOptions
  extends Partial<Omit<StepOptions, 'prefix' | 'tmpDir' | 'allowPrivateNetwork'>> {
  /** Steps in progress at once in this process (WORKER_CONCURRENCY). Waiting jobs hold none. */
  concurrency: number;
  prefix: string;
  tmpDir: string;
  allowPrivateNetwork: boolean;
  /** Identifies this worker in lease_owner. */
  owner?: string;
  /** How long a claim holds without renewal; all held leases are renewed together every third of it. */
  leaseMs?: number;
  /** How often an idle runner looks for jobs made due by other processes. Default 500 ms. */
  idlePollMs?: number;
  /** USER_MAX_ACTIVE_JOBS: one user's jobs in flight at once; more wait their turn. Default 10. */
  userMaxActiveJobs?: number;
  /** Scheduling clock (leases, next_attempt_at). Default Date.now. */
  now?: () => number;
  /** The pipeline's steps (tests swap one). */
  steps?: Partial<Record<StepName, Step<any>>>;
}

interface Held {
  job: Job;
  controller: AbortController;
}

/**
 * Runs due steps of jobs in this process. The loop knows nothing of providers or storage: it claims due
 * jobs (a lease on each), runs one step, and applies the step's outcome — wait in the database until T,
 * run the next step now, done, or fail (refunded). A job waiting on a provider holds no slot, timer or
 * heartbeat here: it is a row with a future `next_attempt_at`. One UPDATE per tick renews every lease
 * the process holds.
 */
export class JobRunner {
  readonly owner: string;
  private readonly held = new Map<string, Held>();
  /** Steps working now (held jobs minus those idling for a rate-limit slot). */
  private busy = 0;
  private readonly work = new Set<Promise<void>>();
  private running = false;
  private loop: Promise<void> | null = null;
  private renewTimer: NodeJS.Timeout | null = null;
  private readonly stopSignal = new AbortController();
  private readonly deps: StepDeps;
  private readonly steps: Record<StepName, Step<any>>;
  private readonly now: () => number;
  private readonly leaseMs: number;
  private readonly idlePollMs: number;
  private readonly userMaxActive: number;
  private readonly stepOptions: StepOptions;
  /** Earliest next_attempt_at this process handed a job back with: the loop wakes for it. */
  private nextDue = Number.POSITIVE_INFINITY;
  private wake: (() => void) | null = null;
  /** A wake-up came while the loop was not asleep: its next sleep returns at once. */
  private woken = false;
  private unsubscribe: (() => void) | null = null;
  /** Steps this runner has run (tests and benchmarks). */
  stepsRun = 0;
  /** Empty claims in a row: an idle runner looks less often (up to 4 × idlePollMs). */
  private emptyClaims = 0;
  /** The last claim filled every free slot, so more work is likely due. */
  private saturated = false;

  constructor(
    deps: RunnerDeps,
    private readonly options: RunnerOptions,
  ) {
    this.owner = options.owner ?? `worker-${process.pid}-${randomBytes(4).toString('hex')}`;
    this.now = options.now ?? Date.now;
    this.deps = { ...deps, limiter: deps.limiter ?? new FleetLimiter(deps.db, { now: this.now }) };
    this.steps = { ...STEPS, ...options.steps };
    this.leaseMs = options.leaseMs ?? 30_000;
    this.idlePollMs = options.idlePollMs ?? 500;
    this.userMaxActive = options.userMaxActiveJobs ?? 10;
    this.stepOptions = {
      prefix: options.prefix,
      tmpDir: options.tmpDir,
      allowPrivateNetwork: options.allowPrivateNetwork,
      maxImageBytes: options.maxImageBytes,
      maxVideoBytes: options.maxVideoBytes,
      pollIntervalMs: options.pollIntervalMs ?? 1_000,
      maxPollIntervalMs: options.maxPollIntervalMs ?? 30_000,
      maxJobAgeMs: options.maxJobAgeMs ?? 24 * 3600 * 1000,
    };
  }

  start(): void {
    if (this.running) return;
    fs.mkdirSync(this.options.tmpDir, { recursive: true });
    this.running = true;
    this.unsubscribe = this.deps.events.onQueued(() => this.poke());
    this.renewTimer = setInterval(() => void this.renew(), Math.max(50, Math.floor(this.leaseMs / 3)));
    this.loop = this.run();
  }

  /** Stops claiming, abandons in-flight steps at their next safe point and hands their leases back. */
  async stop(): Promise<void> {
    this.running = false;
    this.stopSignal.abort();
    this.poke();
    for (const { controller } of this.held.values()) controller.abort();
    await this.loop;
    await Promise.allSettled([...this.work]);
    if (this.renewTimer) clearInterval(this.renewTimer);
    this.unsubscribe?.();
  }

  /** Jobs this runner holds now (steps in progress). */
  get activeCount(): number {
    return this.held.size;
  }

  private poke(): void {
    this.emptyClaims = 0;
    if (this.wake) this.wake();
    else this.woken = true;
  }

  private async run(): Promise<void> {
    while (this.running) {
      const free = this.options.concurrency - this.busy;
      let claimed: Job[] = [];
      if (free > 0) {
        try {
          const now = this.now();
          if (this.nextDue <= now) this.nextDue = Number.POSITIVE_INFINITY;
          claimed = await claimDueJobs(this.deps.db, {
            owner: this.owner,
            limit: free,
            leaseMs: this.leaseMs,
            now,
            userMaxActive: this.userMaxActive,
          });
        } catch (error) {
          logger.error('runner: claim failed', { error });
        }
      }
      for (const job of claimed) this.spawn(job);
      this.emptyClaims = claimed.length > 0 || this.held.size > 0 ? 0 : this.emptyClaims + 1;
      this.saturated = free > 0 && claimed.length === free;
      if (!this.running) break;
      // Claim again when: a job was queued here, a job handed back here falls due, a slot frees after a
      // full claim, or (for work other processes made due) every idlePollMs.
      if (this.saturated && this.options.concurrency - this.busy >= Math.ceil(this.options.concurrency / 2)) {
        continue;
      }
      await this.sleep();
    }
  }

  private sleep(): Promise<void> {
    if (this.woken) {
      this.woken = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const idle = this.idlePollMs * 2 ** Math.min(2, Math.max(0, this.emptyClaims - 1));
      const until = Math.min(idle, Math.max(0, this.nextDue - this.now()));
      const done = () => {
        clearTimeout(timer);
        this.wake = null;
        resolve();
      };
      const timer = setTimeout(done, until);
      this.wake = done;
    });
  }

  private spawn(job: Job): void {
    const controller = new AbortController();
    this.held.set(job.id, { job, controller });
    this.busy++;
    this.deps.events.notify(job.id);
    const work = this.drive(job, controller.signal)
      .catch((error) => logger.error('runner: could not settle job', { jobId: job.id, error }))
      .finally(() => {
        this.held.delete(job.id);
        this.busy--;
        this.work.delete(work);
        // More work was due at the last claim: claim again once half the slots are free (one claim for
        // several jobs rather than one per finished step).
        if (
          this.saturated &&
          this.options.concurrency - this.busy >= Math.ceil(this.options.concurrency / 2)
        ) {
          this.poke();
        }
      });
    this.work.add(work);
  }

  /** Runs the job's steps until one says wait, done or fail, and applies that outcome. */
  private async drive(job: Job, signal: AbortSignal): Promise<void> {
    let step: StepName = firstStep(job);
    let carry: unknown;
    let outcome: StepOutcome;
    for (;;) {
      this.stepsRun++;
      try {
        outcome = await this.steps[step]({
          job,
          owner: this.owner,
          now: this.now,
          signal,
          deps: this.deps,
          options: this.stepOptions,
          carry,
          idle: this.idle,
        });
      } catch (error) {
        if (error instanceof Abandoned || signal.aborted) return this.handBack(job);
        if (!isAppError(error)) logger.error('runner: step crashed', { jobId: job.id, step, error });
        outcome = isAppError(error)
          ? { kind: 'fail', code: error.code, message: error.message }
          : { kind: 'fail', code: 'PROVIDER_FAILED', message: 'The generation failed unexpectedly' };
      }
      if (outcome.kind !== 'next') break;
      step = outcome.step;
      carry = outcome.carry;
    }
    if (outcome.kind === 'wait') {
      const released = await releaseJob(this.deps.db, {
        id: job.id,
        owner: this.owner,
        until: outcome.until,
        patch: outcome.patch,
      });
      if (released) {
        if (outcome.patch) this.deps.events.notify(job.id);
        if (outcome.until < this.nextDue) this.nextDue = outcome.until;
      }
    } else if (outcome.kind === 'fail') {
      await failJob(
        this.deps,
        job,
        { code: outcome.code, message: outcome.message },
        { leaseOwner: this.owner },
      );
    }
  }

  /** Lets another step start while this one waits (for a rate-limit slot). */
  private readonly idle = async <T>(wait: Promise<T>): Promise<T> => {
    this.busy--;
    if (this.saturated) this.poke();
    try {
      return await wait;
    } finally {
      this.busy++;
    }
  };

  /** Gives the lease back at once (shutdown, lost lease), so another worker resumes without waiting it out. */
  private async handBack(job: Job): Promise<void> {
    await releaseJob(this.deps.db, { id: job.id, owner: this.owner, until: this.now() }).catch(
      () => undefined,
    );
  }

  /** One UPDATE for every lease this process holds; jobs no longer ours are abandoned. */
  private async renew(): Promise<void> {
    if (this.held.size === 0) return;
    try {
      const lost = await renewLeases(this.deps.db, {
        owner: this.owner,
        ids: [...this.held.keys()],
        leaseMs: this.leaseMs,
        now: this.now(),
      });
      for (const id of lost) this.held.get(id)?.controller.abort();
    } catch (error) {
      logger.warn('runner: lease renewal failed', { error });
    }
  }
}
