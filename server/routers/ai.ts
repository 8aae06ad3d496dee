import { tracked } from '@trpc/server';
import { z } from 'zod';
import type { Job } from '../../db/schema.ts';
import { AppError, isAppCode } from '../../shared/errors.ts';
import { extended } from '../../shared/objects.ts';
import {
  AdminJobsListInput,
  GenerateImageInput,
  GenerateVideoInput,
  IdInput,
  JobsListInput,
  type JobView,
  OutputsListInput,
  type OutputView,
} from '../../shared/schemas/generation.ts';
import { countedStream } from '../observability/metrics.ts';
import { cancelJob, type StartResult, startGeneration, waitForJob } from '../services/generation.ts';
import {
  findUserJob,
  isFinal,
  listAllJobs,
  listUserJobsWithOutputs,
  outputsOfJob,
} from '../services/jobs/store.ts';
import { deleteOutput, listOutputs } from '../services/outputs.ts';
import { adminProcedure, authedProcedure, publicProcedure, router } from '../trpc.ts';
import { jobView, outputView } from '../views.ts';

/** What a dry run answers: the quote, and a job/output marked as placeholders. Nothing is written. */
function dryRunAnswer(
  start: Extract<StartResult, { dryRun: true }>,
  kind: 'image' | 'video',
  prompt: string,
  now: number,
) {
  const job: JobView = {
    id: 'dry-run',
    kind,
    status: 'queued',
    stage: 'queued',
    progress: 0,
    statusSequence: 0,
    model: start.model.id,
    prompt,
    params: start.params,
    cost: start.quote,
    refunded: 0,
    createdAt: new Date(now),
    startedAt: null,
    finishedAt: null,
  };
  const placeholder: OutputView = {
    id: 'placeholder',
    jobId: 'dry-run',
    kind,
    url: '',
    thumbnailUrl: '',
    downloadUrl: '',
    ossPath: '',
    size: 0,
    contentType: kind === 'image' ? 'image/png' : 'video/mp4',
    meta: { provider: start.model.provider, model: start.model.id },
    prompt,
    createdAt: new Date(now),
    placeholder: true,
  };
  return { job, outputs: [placeholder], quote: start.quote, placeholder: true as const };
}

export const aiRouter = router({
  models: publicProcedure.query(({ ctx }) => ctx.providers.models()),

  generateImage: authedProcedure.input(GenerateImageInput).mutation(async ({ ctx, input, signal }) => {
    const start = await startGeneration(
      ctx,
      extended(input, { kind: 'image' as const, userId: ctx.user.id }),
    );
    if (start.dryRun) return dryRunAnswer(start, 'image', input.prompt, ctx.clock.now());
    const { job, outputs } = await waitForJob(ctx, start.job, ctx.config.IMAGE_WAIT_SECONDS * 1000, signal);
    if (job.status === 'failed') {
      const code = isAppCode(job.error_code) ? job.error_code : 'PROVIDER_FAILED';
      throw new AppError(code, job.error_message ?? 'The generation failed', { details: { jobId: job.id } });
    }
    // Canceled meanwhile (refunded), or still running after the wait: answer with the job as it is;
    // jobs.watch / jobs.get follow a running one.
    return { job: jobView(job), outputs: outputs.map((o) => outputView(ctx.storage, o)) };
  }),

  generateVideo: authedProcedure.input(GenerateVideoInput).mutation(async ({ ctx, input }) => {
    const start = await startGeneration(
      ctx,
      extended(input, { kind: 'video' as const, userId: ctx.user.id }),
    );
    if (start.dryRun) {
      const { job, quote, placeholder } = dryRunAnswer(start, 'video', input.prompt, ctx.clock.now());
      return { job, quote, placeholder };
    }
    return { job: jobView(start.job) };
  }),
});

export const jobsRouter = router({
  get: authedProcedure.input(IdInput).query(async ({ ctx, input }) => {
    const job = await findUserJob(ctx.db, ctx.user.id, input.id);
    if (!job) throw new AppError('NOT_FOUND', 'Job not found', { reason: 'JOB_NOT_FOUND' });
    const outputs = await outputsOfJob(ctx.db, job.id);
    return { job: jobView(job), outputs: outputs.map((o) => outputView(ctx.storage, o)) };
  }),

  list: authedProcedure.input(JobsListInput).query(async ({ ctx, input }) => {
    const page = await listUserJobsWithOutputs(ctx.db, { userId: ctx.user.id, ...input });
    return {
      // Each job with its outputs, so the Create page's feed draws finished jobs without more requests.
      items: page.items.map((j) =>
        extended(jobView(j), { outputs: j.outputs.map((o) => outputView(ctx.storage, o)) }),
      ),
      nextCursor: page.nextCursor,
    };
  }),

  /**
   * Job snapshots over SSE, tracked by status_sequence so a client never applies an older one and a
   * reconnect resumes after `lastEventId`. Waiting costs no query: the process's change feed wakes the
   * stream. Open streams are capped per user and per IP (RATE_LIMITED beyond), checked before any query.
   */
  watch: authedProcedure
    .input(
      IdInput.extend({
        lastEventId: z
          .string()
          .regex(/^\d{1,15}$/, 'lastEventId must be the status sequence of an earlier event')
          .nullish(),
      }),
    )
    // The checks run before the stream starts, where the procedure's middleware (`guarded`) gives them
    // their tRPC code (NOT_FOUND, TOO_MANY_REQUESTS, BAD_REQUEST): thrown inside the stream they would
    // reach the client as INTERNAL_SERVER_ERROR, which tRPC's httpSubscriptionLink retries for ever.
    .subscription(async ({ ctx, input, signal }) => {
      // A client gone before this procedure ran takes no slot: the abort listener below would never run
      // for a signal that has already fired, and the slot would stay taken until a restart.
      if (signal?.aborted) throw new AppError('VALIDATION', 'The client went away before the watch started');
      const release = ctx.events.watches.acquire(
        { userId: ctx.user.id, ip: ctx.ip },
        { perUser: ctx.config.MAX_WATCHES_PER_USER, perIp: ctx.config.MAX_WATCHES_PER_IP },
      );
      // Released when the stream ends, or when the client goes before the stream ever started.
      signal?.addEventListener('abort', release, { once: true });
      const lastSequence = input.lastEventId ? Number(input.lastEventId) : 0;
      let start: Job;
      try {
        const job = await findUserJob(ctx.db, ctx.user.id, input.id);
        if (!job) throw new AppError('NOT_FOUND', 'Job not found', { reason: 'JOB_NOT_FOUND' });
        if (lastSequence > job.status_sequence) {
          throw new AppError('VALIDATION', 'lastEventId is ahead of this job: it belongs to another stream', {
            fields: ['lastEventId'],
          });
        }
        start = job;
      } catch (error) {
        release();
        throw error;
      }
      return countedStream(async function* () {
        try {
          let job = start;
          let seen = lastSequence;
          for (;;) {
            if (job.status_sequence > seen) {
              seen = job.status_sequence;
              yield tracked(String(job.status_sequence), jobView(job));
            }
            if (isFinal(job.status) || signal?.aborted) return;
            job = (await ctx.events.feed.next(job.id, seen, { signal })) ?? job;
          }
        } finally {
          release();
        }
      })(undefined);
    }),

  cancel: authedProcedure.input(IdInput).mutation(async ({ ctx, input }) => {
    const job = await cancelJob(ctx, { userId: ctx.user.id, jobId: input.id });
    return { job: jobView(job) };
  }),
});

export const outputsRouter = router({
  list: authedProcedure.input(OutputsListInput).query(async ({ ctx, input }) => {
    const page = await listOutputs(ctx.db, { userId: ctx.user.id, ...input });
    return {
      items: page.items.map((o) => outputView(ctx.storage, o)),
      nextCursor: page.nextCursor,
    };
  }),

  delete: authedProcedure.input(IdInput).mutation(async ({ ctx, input }) => {
    await deleteOutput(ctx.db, ctx.storage, { userId: ctx.user.id, id: input.id, now: ctx.clock.now() });
    return { id: input.id };
  }),
});

export const adminJobsRouter = router({
  list: adminProcedure.input(AdminJobsListInput).query(async ({ ctx, input }) => {
    const page = await listAllJobs(ctx.db, input);
    return {
      items: page.items.map((j) => ({
        ...jobView(j),
        userEmail: j.user_email,
        provider: j.provider,
        attempts: j.attempts,
      })),
      nextCursor: page.nextCursor,
    };
  }),
});
