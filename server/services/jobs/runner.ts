import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import type { Kysely } from 'kysely';
import type { Database, Job } from '../../../db/schema.ts';
import { inTransaction } from '../../../db/transaction.ts';
import { AppError, isAppError } from '../../../shared/errors.ts';
import { findModel } from '../../../shared/models.ts';
import { logger } from '../../logger.ts';
import { jobTransition } from '../../observability/jobs.ts';
import type { GenerationRequest, PollResult, Provider, ProviderResult } from '../../providers/provider.ts';
import type { ProviderRegistry } from '../../providers/registry.ts';
import { keyForOutput } from '../../storage/keys.ts';
import { persist } from '../../storage/persist.ts';
import type { Storage } from '../../storage/storage.ts';
import type { Clock } from '../clock.ts';
import { completeJob, failJob, type StoredOutput } from '../generation.ts';
import { newId } from '../ids.ts';
import type { JobEvents } from './events.ts';
import { claimJobs, findJob, jobParams, renewLease, updateJob } from './store.ts';

export interface RunnerDeps {
  db: Kysely<Database>;
  storage: Storage;
  providers: ProviderRegistry;
  clock: Clock;
  events: JobEvents;
}

export interface RunnerOptions {
  concurrency: number;
  /** Key prefix for outputs (OSS_PREFIX). */
  prefix: string;
  /** Where downloads are staged before upload. */
  tmpDir: string;
  allowPrivateNetwork: boolean;
  maxImageBytes?: number;
  maxVideoBytes?: number;
  /** Identifies this worker in lease_owner. */
  owner?: string;
  /** How long a claim holds without renewal; renewed every third of it. Default 30 s. */
  leaseMs?: number;
  /** First provider poll delay; grows ×1.5 up to maxPollIntervalMs. Defaults 500 ms and 5 s. */
  pollIntervalMs?: number;
  maxPollIntervalMs?: number;
  /** How often an idle runner looks for due jobs queued by other processes. Default 500 ms. */
  idlePollMs?: number;
  /** Provider tasks live 24 h: past this age a job that still has no result fails and is refunded. */
  maxJobAgeMs?: number;
}

/** Lost lease or shutdown: stop working on the job, leave it to whoever holds it now. */
class Abandoned extends Error {}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    if (signal.aborted) return reject(new Abandoned());
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

/**
 * Runs queued jobs in this process: claims them with a lease, submits (or resumes polling) the provider
 * task, persists every result to storage, then records outputs and settles the charge.
 */
export class JobRunner {
  readonly owner: string;
  private readonly active = new Map<string, AbortController>();
  private readonly settled = new Set<Promise<void>>();
  private running = false;
  private loop: Promise<void> | null = null;
  private readonly o: Required<Omit<RunnerOptions, 'maxImageBytes' | 'maxVideoBytes'>> &
    Pick<RunnerOptions, 'maxImageBytes' | 'maxVideoBytes'>;

  constructor(
    private readonly deps: RunnerDeps,
    options: RunnerOptions,
  ) {
    this.owner = options.owner ?? `worker-${process.pid}-${randomBytes(4).toString('hex')}`;
    this.o = {
      leaseMs: 30_000,
      pollIntervalMs: 500,
      maxPollIntervalMs: 5_000,
      idlePollMs: 500,
      maxJobAgeMs: 24 * 3600 * 1000,
      ...options,
      owner: this.owner,
    };
  }

  start(): void {
    if (this.running) return;
    fs.mkdirSync(this.o.tmpDir, { recursive: true });
    this.running = true;
    this.loop = this.run();
  }

  /** Stops claiming, abandons in-flight jobs at their next safe point and hands their leases back. */
  async stop(): Promise<void> {
    this.running = false;
    this.deps.events.queued();
    for (const controller of this.active.values()) controller.abort();
    await this.loop;
    await Promise.allSettled([...this.settled]);
  }

  /** Jobs this runner is working on now. */
  get activeCount(): number {
    return this.active.size;
  }

  private async run(): Promise<void> {
    while (this.running) {
      const free = this.o.concurrency - this.active.size;
      let claimed: Job[] = [];
      if (free > 0) {
        try {
          const now = this.deps.clock.now();
          claimed = await inTransaction(this.deps.db, (trx) =>
            claimJobs(trx, { owner: this.owner, limit: free, leaseMs: this.o.leaseMs, now }),
          );
        } catch (error) {
          logger.error('runner: claim failed', { error });
        }
      }
      for (const job of claimed) this.spawn(job);
      if (claimed.length === 0 || this.active.size >= this.o.concurrency) {
        await this.deps.events.waitForQueued(this.o.idlePollMs);
      }
    }
  }

  private spawn(job: Job): void {
    const controller = new AbortController();
    this.active.set(job.id, controller);
    this.deps.events.notify(job.id);
    const heartbeat = setInterval(
      () => {
        renewLease(this.deps.db, {
          id: job.id,
          owner: this.owner,
          leaseMs: this.o.leaseMs,
          now: this.deps.clock.now(),
        })
          .then((ok) => {
            if (!ok) controller.abort();
          })
          .catch((error) => logger.warn('runner: lease renewal failed', { jobId: job.id, error }));
      },
      Math.max(50, Math.floor(this.o.leaseMs / 3)),
    );
    const work = this.execute(job, controller.signal)
      .catch(async (error) => {
        if (error instanceof Abandoned || controller.signal.aborted) {
          // Hand the lease back so another worker (or this one after a restart) resumes at once.
          await updateJob(
            this.deps.db,
            job.id,
            { lease_owner: null, lease_until: null },
            { status: ['running'], leaseOwner: this.owner },
          ).catch(() => undefined);
          return;
        }
        const appError = isAppError(error) ? error : null;
        if (!appError) logger.error('runner: job crashed', { jobId: job.id, error });
        await failJob(
          this.deps,
          job,
          appError
            ? { code: appError.code, message: appError.message }
            : { code: 'PROVIDER_FAILED', message: 'The generation failed unexpectedly' },
          { leaseOwner: this.owner },
        );
      })
      .catch((error) => logger.error('runner: could not settle job', { jobId: job.id, error }))
      .finally(() => {
        clearInterval(heartbeat);
        this.active.delete(job.id);
        this.lastWrite.delete(job.id);
        this.settled.delete(work);
        this.deps.events.queued();
      });
    this.settled.add(work);
  }

  /** `job` is the row as the claim left it (claimJobs reads it back after its update). */
  private async execute(job: Job, signal: AbortSignal): Promise<void> {
    const { deps } = this;
    const provider = deps.providers.get(job.provider);
    if (!provider)
      throw new AppError('PROVIDER_FAILED', `Provider ${job.provider} is not configured on this server`);
    if (deps.clock.now() - job.created_at > this.o.maxJobAgeMs) {
      throw new AppError('PROVIDER_TIMEOUT', 'The provider did not finish in time');
    }
    const params = jobParams(job);
    let taskId = job.provider_task_id;
    let result: PollResult | undefined;

    if (!taskId) {
      const submitted = await this.submit(provider, await this.request(job, params), signal);
      taskId = submitted.taskId;
      result = submitted.immediate;
      const saved = await updateJob(
        deps.db,
        job.id,
        { provider_task_id: taskId, stage: 'generating', progress: 5 },
        { status: ['running'], leaseOwner: this.owner },
      );
      if (!saved) throw new Abandoned();
      jobTransition(job, 'submitted', { now: deps.clock.now() });
      deps.events.notify(job.id);
    } else {
      await this.progress(job, { stage: 'generating' });
    }

    let interval = this.o.pollIntervalMs;
    let failures = 0;
    let polls = 0;
    while (!result || result.state === 'queued' || result.state === 'running') {
      if (result?.progress !== undefined) {
        await this.progress(job, { stage: 'generating', progress: 5 + Math.round(result.progress * 0.75) });
      }
      // The provider knows its own pace (and rate limits); otherwise back off from pollIntervalMs.
      const suggested = provider.suggestedPollDelayMs?.(polls++);
      await sleep(suggested ?? interval, signal);
      interval = Math.min(this.o.maxPollIntervalMs, Math.round(interval * 1.5));
      try {
        result = await provider.poll(taskId, { signal });
        failures = 0;
      } catch (error) {
        if (signal.aborted) throw new Abandoned();
        // A failed poll is not a failed task: the provider may still finish it, so keep asking.
        if (isAppError(error) && (error.code === 'CONTENT_REJECTED' || error.code === 'VALIDATION'))
          throw error;
        failures++;
        if (isAppError(error) && error.code === 'RATE_LIMITED')
          await sleep(error.retryAfterMs ?? interval, signal);
        logger.warn('runner: poll failed, will retry', { jobId: job.id, failures, error });
        if (failures >= 5) return this.reschedule(job, Math.min(60_000, interval * failures));
      }
    }

    if (result.state !== 'succeeded') {
      throw new AppError(
        result.error?.code ?? 'PROVIDER_FAILED',
        result.error?.message ?? `The provider reported the task ${result.state}`,
      );
    }
    await this.persistAndComplete(job, params, result.results ?? [], signal);
  }

  /** Submits, waiting out rate limits a few times before giving up. */
  private async submit(provider: Provider, request: GenerationRequest, signal: AbortSignal) {
    for (let attempt = 1; ; attempt++) {
      try {
        return await provider.submit(request, { signal });
      } catch (error) {
        if (signal.aborted) throw new Abandoned();
        if (isAppError(error) && error.code === 'RATE_LIMITED' && attempt < 4) {
          await sleep(error.retryAfterMs ?? 2000 * attempt, signal);
          continue;
        }
        throw error;
      }
    }
  }

  private async request(job: Job, params: Record<string, unknown>): Promise<GenerationRequest> {
    let imageUrl: string | undefined;
    if (typeof params.imageOutputId === 'string') {
      const source = await this.deps.db
        .selectFrom('job_outputs')
        .select('oss_path')
        .where('id', '=', params.imageOutputId)
        .where('user_id', '=', job.user_id)
        .executeTakeFirst();
      if (!source) throw new AppError('NOT_FOUND', 'The image to animate is gone');
      imageUrl = this.deps.storage.urlFor(source.oss_path);
    }
    return {
      kind: job.kind,
      model: job.model,
      prompt: job.prompt,
      negativePrompt: params.negativePrompt as string | undefined,
      size: params.size as string | undefined,
      n: (params.n as number | undefined) ?? 1,
      seed: params.seed as number | undefined,
      durationSeconds: params.durationSeconds as number | undefined,
      resolution: params.resolution as string | undefined,
      imageUrl,
    };
  }

  private async persistAndComplete(
    job: Job,
    params: Record<string, unknown>,
    results: ProviderResult[],
    signal: AbortSignal,
  ): Promise<void> {
    const { deps } = this;
    const paid = (params.n as number | undefined) ?? 1;
    const model = findModel(job.model);
    const stored: StoredOutput[] = [];
    let firstError: AppError | null = null;
    await this.progress(job, { stage: 'uploading', progress: 80 });
    for (const [index, source] of results.slice(0, paid).entries()) {
      try {
        const out = await persist(
          {
            storage: deps.storage,
            tmpDir: this.o.tmpDir,
            allowPrivateNetwork: this.o.allowPrivateNetwork,
            maxImageBytes: this.o.maxImageBytes,
            maxVideoBytes: this.o.maxVideoBytes,
          },
          {
            source,
            kind: job.kind,
            keyFor: keyForOutput({
              userId: job.user_id,
              jobId: job.id,
              index,
              date: new Date(job.created_at),
              prefix: this.o.prefix,
            }),
            signal,
            onProgress: (stage, done, total) => {
              if (stage !== 'uploading' || !total) return;
              const share = (index + done / total) / Math.max(1, results.length);
              void this.progress(job, { stage: 'uploading', progress: 80 + Math.floor(share * 19) });
            },
          },
        );
        stored.push({
          id: newId(),
          kind: job.kind,
          key: out.key,
          url: out.url,
          size: out.size,
          contentType: out.contentType,
          sha256: out.sha256,
          meta: {
            width: out.width,
            height: out.height,
            duration_seconds: out.durationSeconds,
            provider: job.provider,
            model: job.model,
            provider_model: model?.providerModel,
            seed: params.seed,
            source_host: out.sourceHost,
          },
        });
      } catch (error) {
        if (signal.aborted) throw new Abandoned();
        logger.warn('runner: could not store an output', { jobId: job.id, index, error });
        firstError ??= isAppError(error)
          ? error
          : new AppError('STORAGE_UPLOAD_FAILED', 'Could not store the result');
      }
    }
    if (stored.length === 0) {
      throw firstError ?? new AppError('PROVIDER_FAILED', 'The provider returned no result');
    }
    const done = await completeJob(deps, job, stored, { leaseOwner: this.owner, paidOutputs: paid });
    if (!done) {
      // Canceled while we uploaded (or no longer ours): remove what nobody will point at.
      const now = await findJob(deps.db, job.id);
      if (now && (now.status === 'canceled' || now.status === 'failed')) {
        await Promise.allSettled(stored.map((o) => deps.storage.delete(o.key)));
      }
      throw new Abandoned();
    }
  }

  /** Gives the job back with a delay (provider unreachable); it keeps its task id and resumes by polling. */
  private async reschedule(job: Job, delayMs: number): Promise<void> {
    await updateJob(
      this.deps.db,
      job.id,
      { lease_owner: null, lease_until: null, next_attempt_at: this.deps.clock.now() + delayMs },
      { status: ['running'], leaseOwner: this.owner },
    );
  }

  private lastWrite = new Map<string, { at: number; stage: string; progress: number }>();

  /** Writes stage/progress, at most every 250 ms per job unless the stage changes. */
  private async progress(job: Job, update: { stage: Job['stage']; progress?: number }): Promise<void> {
    const last = this.lastWrite.get(job.id);
    const now = Date.now();
    const progress = update.progress ?? last?.progress ?? job.progress;
    if (last && last.stage === update.stage && (progress <= last.progress || now - last.at < 250)) return;
    this.lastWrite.set(job.id, { at: now, stage: update.stage, progress });
    await updateJob(
      this.deps.db,
      job.id,
      { stage: update.stage, progress: Math.min(99, progress) },
      { status: ['running'], leaseOwner: this.owner },
    );
    this.deps.events.notify(job.id);
  }
}
