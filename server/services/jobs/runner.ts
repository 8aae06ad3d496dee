import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { databaseUnavailable } from '../../../db/dialect.ts';
import type { Job } from '../../../db/schema.ts';
import { isAppError } from '../../../shared/errors.ts';
import { logger } from '../../logger.ts';
import type { RateLimit } from '../../providers/provider.ts';
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
import { type Step, type StepName, sleepUntil } from './steps/step.ts';
import { type Candidate, claimJobs, dueCandidates, releaseJob, renewLeases } from './store.ts';

/** A provider slot reserved for a job when it was claimed: its first request goes out at `at`. */
interface Slot {
  op: Candidate['op'];
  at: number;
}

export type RunnerDeps = Omit<StepDeps, 'limiter'> & { limiter?: FleetLimiter };

/** How long a job waits after a step met the database not answering, before it is tried again. */
const DATABASE_RETRY_MS = 2_000;

export interface RunnerOptions
  extends Partial<Omit<StepOptions, 'prefix' | 'tmpDir' | 'allowPrivateNetwork'>> {
  /** Steps in progress at once in this process (WORKER_CONCURRENCY). Jobs waiting on a provider hold none. */
  concurrency: number;
  prefix: string;
  tmpDir: string;
  allowPrivateNetwork: boolean;
  /** Identifies this worker in lease_owner. */
  owner?: string;
  /** How long a claim holds without renewal; all held leases are renewed together every third of it. */
  leaseMs?: number;
  /**
   * A claim also takes jobs falling due within this long (they start when due), so steps due close
   * together share one claim and one limiter round trip. Default 1000 ms (the limiter's horizon).
   */
  lookaheadMs?: number;
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
  /** Holds one of the WORKER_CONCURRENCY step places now (not while waiting for its time or slot). */
  working: boolean;
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
  /** Steps working now: held jobs minus those waiting for their due time, a slot or a place. */
  private busy = 0;
  /** Jobs waiting for a step place (all WORKER_CONCURRENCY are working), with their user. */
  private readonly queue: { userId: string; start: () => void }[] = [];
  /** Steps working now, per user: a freed place goes to the waiting job whose user has fewest. */
  private readonly workingByUser = new Map<string, number>();
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
  private readonly lookaheadMs: number;
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
  /** The last claim took as many jobs as it asked for, so more work is likely due. */
  private saturated = false;
  /** Claims that failed since the last one logged, and when that was. */
  private claimFailures = 0;
  private claimFailureLoggedAt = 0;

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
    this.lookaheadMs = options.lookaheadMs ?? 1_000;
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

  /** Jobs this runner holds now (steps in progress, and jobs claimed a moment before their turn). */
  get activeCount(): number {
    return this.held.size;
  }

  private poke(): void {
    this.emptyClaims = 0;
    if (this.wake) this.wake();
    else this.woken = true;
  }

  /**
   * How many jobs the next claim may take: the free step places, plus as many again for jobs that
   * will wait a moment anyway (due within the look-ahead, or for their provider slot), so that one
   * claim serves the next second's steps; at least one while fewer than four times WORKER_CONCURRENCY
   * are held, so that a job of another user is claimed (the claim takes users with fewest jobs running
   * first) and takes the next free place, even while long steps fill every place and their line.
   */
  private claimRoom(): number {
    const { concurrency } = this.options;
    const free = concurrency - this.busy - this.queue.length;
    return Math.max(0, Math.min(Math.max(1, free + concurrency), 4 * concurrency - this.held.size));
  }

  private async run(): Promise<void> {
    while (this.running) {
      const room = this.claimRoom();
      let claimed: Job[] = [];
      if (room > 0) {
        try {
          const now = this.now();
          if (this.nextDue <= now) this.nextDue = Number.POSITIVE_INFINITY;
          const candidates = await dueCandidates(this.deps.db, {
            limit: room,
            now,
            dueBy: now + this.lookaheadMs,
            userMaxActive: this.userMaxActive,
          });
          const granted = await this.grant(candidates, room);
          claimed = await claimJobs(this.deps.db, {
            owner: this.owner,
            jobs: candidates.filter((c) => granted.has(c.job.id)).map((c) => c.job),
            leaseMs: this.leaseMs,
            now,
          });
          for (const job of claimed) this.spawn(job, granted.get(job.id));
        } catch (error) {
          // The database down or without its schema: said once a minute, with how often it failed.
          const now = Date.now();
          this.claimFailures++;
          if (now - this.claimFailureLoggedAt >= 60_000) {
            logger.error('runner: claim failed', { error, failures: this.claimFailures });
            this.claimFailureLoggedAt = now;
            this.claimFailures = 0;
          }
        }
      }
      this.emptyClaims = claimed.length > 0 || this.held.size > 0 ? 0 : this.emptyClaims + 1;
      this.saturated = room > 0 && claimed.length === room;
      if (!this.running) break;
      // Claim again when: a job was queued here, a job handed back here falls due, room frees after a
      // full claim, or (for work other processes made due) every idlePollMs.
      if (this.saturated && this.claimRoom() >= this.options.concurrency) continue;
      await this.sleep();
    }
  }

  /**
   * Which candidates to claim: at most `room`, and of those whose first step asks a rate-limited
   * provider, only the ones a slot was reserved for (one limiter round trip per operation). The rest
   * stay due in the database, unclaimed, and this runner looks again when their slots come.
   */
  private async grant(candidates: Candidate[], room: number): Promise<Map<string, Slot | undefined>> {
    const granted = new Map<string, Slot | undefined>();
    const limited: { candidate: Candidate; limit: RateLimit }[] = [];
    for (const candidate of candidates) {
      if (granted.size + limited.length >= room) break;
      const { job, op } = candidate;
      const provider = this.deps.providers.get(job.provider);
      const limit = op === 'submit' ? provider?.limits?.submit : provider?.limits?.query;
      if (!limit) {
        granted.set(job.id, { op, at: job.next_attempt_at });
        continue;
      }
      const blocked = this.deps.limiter.blockedUntil(limit);
      if (blocked !== undefined) this.nextDue = Math.min(this.nextDue, blocked);
      else limited.push({ candidate, limit });
    }
    // Reservations made in one tick share one read and one guarded write per operation.
    const slots = await Promise.all(
      limited.map(({ candidate, limit }) => this.deps.limiter.reserve(limit, candidate.job.next_attempt_at)),
    );
    for (const [i, slot] of slots.entries()) {
      const { job, op } = limited[i]!.candidate;
      if (slot.ok) granted.set(job.id, { op, at: slot.at });
      else this.nextDue = Math.min(this.nextDue, slot.retryAt);
    }
    return granted;
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

  private spawn(job: Job, slot: Slot | undefined): void {
    const controller = new AbortController();
    const held: Held = { job, controller, working: false };
    this.held.set(job.id, held);
    this.deps.events.notify(job.id, job);
    const work = this.drive(held, slot)
      .catch((error) => logger.error('runner: could not settle job', { jobId: job.id, error }))
      .finally(() => {
        if (held.working) this.leave(held);
        this.held.delete(job.id);
        this.work.delete(work);
        // More work was due at the last claim: claim again once there is room for a claim's worth
        // (one claim for several jobs rather than one per finished step).
        if (this.saturated && this.claimRoom() >= this.options.concurrency) this.poke();
      });
    this.work.add(work);
  }

  /** Takes a step place, waiting for one when all WORKER_CONCURRENCY are working. */
  private async enter(held: Held): Promise<void> {
    const userId = held.job.user_id;
    if (this.busy < this.options.concurrency && this.queue.length === 0) this.busy++;
    else await new Promise<void>((start) => this.queue.push({ userId, start }));
    held.working = true;
    this.workingByUser.set(userId, (this.workingByUser.get(userId) ?? 0) + 1);
    if (held.controller.signal.aborted) throw new Abandoned();
  }

  /**
   * Gives a step place back: to the waiting job whose user has the fewest steps working, the
   * longest-waiting of those. Claims are fair across users, and so are places: one user's jobs that
   * hold places for long (a demo video renders inside its step) do not keep another user's single job
   * waiting behind all of theirs.
   */
  private leave(held: Held): void {
    held.working = false;
    const userId = held.job.user_id;
    const working = (this.workingByUser.get(userId) ?? 1) - 1;
    if (working > 0) this.workingByUser.set(userId, working);
    else this.workingByUser.delete(userId);
    let chosen = -1;
    let fewest = Number.POSITIVE_INFINITY;
    for (let i = 0; i < this.queue.length && fewest > 0; i++) {
      const count = this.workingByUser.get(this.queue[i]!.userId) ?? 0;
      if (count < fewest) {
        chosen = i;
        fewest = count;
      }
    }
    if (chosen >= 0) this.queue.splice(chosen, 1)[0]!.start();
    else this.busy--;
  }

  /** Runs the job's steps until one says wait, done or fail, and applies that outcome. */
  private async drive(held: Held, reserved: Slot | undefined): Promise<void> {
    const { job } = held;
    const { signal } = held.controller;
    let step: StepName = firstStep(job);
    let carry: unknown;
    // The slot reserved at the claim is for the first step's provider request (when it is still the
    // operation it was reserved for: the job may have moved on between the read and the claim).
    let slot = reserved && (reserved.op === 'submit') === (step === 'submit') ? reserved.at : undefined;
    // Claimed a moment early (with the next moment's due jobs, in one claim): start when due.
    try {
      if (job.next_attempt_at > this.now()) await sleepUntil(job.next_attempt_at, this.now, signal);
      await this.enter(held);
    } catch {
      return this.handBack(job);
    }
    const idle = <T>(wait: Promise<T>) => this.idle(held, wait);
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
          idle,
          slot,
        });
        slot = undefined;
      } catch (error) {
        if (error instanceof Abandoned || signal.aborted) return this.handBack(job);
        const unavailable = isAppError(error) ? undefined : databaseUnavailable(error);
        if (unavailable) {
          // The database not answering is not the job's failure: the job waits a moment and resumes from
          // its row (a recorded task id is polled, never submitted again; a submit that went out without
          // one is failed then, as after a crash).
          logger.warn('runner: the database did not answer during a step; the job resumes shortly', {
            jobId: job.id,
            step,
            code: unavailable,
          });
          outcome = { kind: 'wait', until: this.now() + DATABASE_RETRY_MS };
          break;
        }
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
      // This write may carry the provider's task id: lost to a database blip, the job would be submitted
      // again once its lease ran out (a second task, billed). So it is retried while the lease lasts.
      const { until, patch } = outcome;
      const released = await this.persistently(job.id, () =>
        releaseJob(this.deps.db, { id: job.id, owner: this.owner, until, patch }),
      );
      if (released) {
        if (outcome.patch) this.deps.events.notify(job.id);
        if (outcome.until < this.nextDue) this.nextDue = outcome.until;
      }
    } else if (outcome.kind === 'fail') {
      const { code, message } = outcome;
      const failed = await this.persistently(job.id, () =>
        failJob(this.deps, job, { code, message }, { leaseOwner: this.owner }),
      );
      // Failed under our lease: nobody completed the job, so what our failed uploads may have left is ours.
      if (failed && outcome.unconfirmed?.length) {
        await Promise.allSettled(outcome.unconfirmed.map((key) => this.deps.storage.delete(key)));
      }
    }
  }

  /**
   * Runs a step's closing write, again and again (0.25 s, doubling to 4 s) while the database refuses it,
   * for as long as a lease lasts: after that another worker may hold the job, and the write, guarded by
   * our lease, would change nothing. An AppError is an answer, not a blip, and is not retried.
   */
  private async persistently<T>(jobId: string, write: () => Promise<T>): Promise<T> {
    const deadline = Date.now() + this.leaseMs;
    for (let attempt = 0; ; attempt++) {
      try {
        return await write();
      } catch (error) {
        if (isAppError(error) || Date.now() >= deadline) throw error;
        logger.warn('runner: a job write failed; trying again', { jobId, attempt, error });
        await new Promise((resolve) => setTimeout(resolve, Math.min(4_000, 250 * 2 ** attempt)));
      }
    }
  }

  /** Lets another step start while this one waits (for a rate-limit slot), then takes a place again. */
  private async idle<T>(held: Held, wait: Promise<T>): Promise<T> {
    this.leave(held);
    try {
      return await wait;
    } finally {
      await this.enter(held);
    }
  }

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
