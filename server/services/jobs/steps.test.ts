import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Job } from '../../../db/schema.ts';
import { AppError } from '../../../shared/errors.ts';
import { testInner } from '../../../test/context.ts';
import { createTestDb, DIALECTS, type TestDb } from '../../../test/db.ts';
import { type DashScopeFake, startDashScopeFake } from '../../../test/fakes/dashscope-server.ts';
import { balanceOf, ledgerOf, signUpUser } from '../../../test/pipeline.ts';
import type { InnerContext } from '../../context.ts';
import type { PollResult } from '../../providers/provider.ts';
import { createProviderRegistry } from '../../providers/registry.ts';
import { systemClock } from '../clock.ts';
import { startGeneration, waitForJob } from '../generation.ts';
import { JobEvents } from './events.ts';
import { FleetLimiter } from './limiter.ts';
import { failJob } from './settle.ts';
import type { Persisted } from './steps/persist.ts';
import { persistStep } from './steps/persist.ts';
import { pollStep } from './steps/poll.ts';
import { settleStep } from './steps/settle.ts';
import { Abandoned, type StepDeps, type StepInput, type StepOptions } from './steps/step.ts';
import { submitStep } from './steps/submit.ts';
import { claimDueJobs, findJob, jobParams, outputsOfJob, releaseJob, updateJob } from './store.ts';

const OWNER = 'step-test-owner';

describe.each(DIALECTS)('pipeline steps, one at a time, on %s', (dialect) => {
  let t: TestDb;
  let fake: DashScopeFake;
  let inner: InnerContext;
  let deps: StepDeps;
  let options: StepOptions;

  beforeAll(async () => {
    t = await createTestDb(dialect);
    fake = await startDashScopeFake({ scenario: { states: ['RUNNING'] } });
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'df-steps-'));
    inner = testInner(t.db, {
      clock: systemClock,
      env: { DATA_DIR: dataDir, DASHSCOPE_API_KEY: fake.apiKey },
      providers: createProviderRegistry({
        dashscope: {
          apiKey: fake.apiKey,
          baseUrl: fake.url,
          retryRateLimited: false,
          requestTimeoutMs: 1_000,
          maxRetries: 0,
        },
        demo: { enabled: true, delayMs: 0 },
      }),
    });
    deps = { ...inner, limiter: new FleetLimiter(t.db) };
    options = {
      prefix: 'outputs',
      tmpDir: path.join(dataDir, 'tmp'),
      allowPrivateNetwork: true,
      pollIntervalMs: 20,
      maxPollIntervalMs: 100,
      maxJobAgeMs: 3_600_000,
    };
    fs.mkdirSync(options.tmpDir, { recursive: true });
  });
  afterAll(async () => {
    await fake?.close();
    await t?.destroy();
  });

  /** A charged, queued job, claimed by OWNER as the runner would. */
  async function claimedJob(prompt = 'a kite', model = 'wan-t2i-flash'): Promise<Job> {
    const user = await signUpUser(inner);
    const start = await startGeneration(inner, {
      kind: 'image',
      userId: user.id,
      prompt,
      model,
    });
    if (start.dryRun) throw new Error('dry run');
    const [job] = (
      await claimDueJobs(t.db, {
        owner: OWNER,
        limit: 50,
        leaseMs: 60_000,
        now: Date.now(),
        userMaxActive: 10,
      })
    ).filter((j) => j.id === start.job.id);
    if (!job) throw new Error('not claimed');
    return job;
  }

  const input = <C>(job: Job, carry?: C): StepInput<C> => ({
    job,
    owner: OWNER,
    now: Date.now,
    signal: new AbortController().signal,
    deps,
    options,
    carry: carry as C,
  });

  it('submit: one task at the provider, and the task id goes out with the wait for the first poll', async () => {
    const job = await claimedJob();
    const before = fake.submissions;
    const outcome = await submitStep(input(job));
    expect(fake.submissions).toBe(before + 1);
    expect(outcome).toMatchObject({
      kind: 'wait',
      patch: { stage: 'generating', provider_task_id: expect.any(String) },
    });
    if (outcome.kind !== 'wait') throw new Error('expected wait');
    expect(outcome.until).toBeGreaterThanOrEqual(Date.now());
  });

  it("submit: the instant demo's task id is written with its outputs, not before (its task exists nowhere else)", async () => {
    const job = await claimedJob('a local kite', 'demo-image');
    const claimed = await findJob(t.db, job.id);
    const submitted = await submitStep(input(job));
    expect(submitted).toMatchObject({ kind: 'next', step: 'poll', carry: { taskId: expect.any(String) } });
    if (submitted.kind !== 'next') throw new Error('expected next');
    const { taskId } = submitted.carry as { taskId: string };
    // Nothing written: no statement between the claim and the result.
    expect(await findJob(t.db, job.id)).toEqual(claimed);
    const polled = await pollStep(input(job, submitted.carry));
    if (polled.kind !== 'next') throw new Error('expected next');
    const persisted = await persistStep(input(job, polled.carry as PollResult));
    if (persisted.kind !== 'next') throw new Error('expected next');
    await settleStep(input(job, persisted.carry as Persisted));
    expect(await findJob(t.db, job.id)).toMatchObject({ status: 'succeeded', provider_task_id: taskId });
  });

  it('submit: a shutdown while the request is on the wire still records the task (no second submit)', async () => {
    const job = await claimedJob();
    const before = fake.submissions;
    fake.hangNext(1, 300);
    const controller = new AbortController();
    const pending = submitStep({ ...input(job), signal: controller.signal });
    setTimeout(() => controller.abort(), 100);
    const outcome = await pending;
    expect(controller.signal.aborted).toBe(true);
    expect(fake.submissions).toBe(before + 1);
    expect(outcome).toMatchObject({ kind: 'wait', patch: { provider_task_id: expect.any(String) } });
  });

  it('submit: a 429 puts the job back in the queue, nothing created, and the fleet limiter backs off', async () => {
    const job = await claimedJob();
    const before = fake.submissions;
    fake.throttleNext(1);
    const outcome = await submitStep(input(job));
    expect(fake.submissions).toBe(before);
    expect(outcome).toMatchObject({ kind: 'wait', patch: { status: 'queued', stage: 'queued' } });
    if (outcome.kind !== 'wait') throw new Error('expected wait');
    expect(outcome.until).toBeGreaterThan(Date.now() + 1_000);
    const row = await t.db
      .selectFrom('provider_limits')
      .selectAll()
      .where('name', '=', 'dashscope:submit')
      .executeTakeFirstOrThrow();
    // Every process pauses its submits for a moment (a quarter second here), not just this job.
    expect(Number(row.next_at)).toBeGreaterThan(Date.now() + 150);
    await t.db.updateTable('provider_limits').set({ next_at: 0 }).execute();
    deps = { ...inner, limiter: new FleetLimiter(t.db) };
  });

  it('poll: a running task waits with its progress; a finished one goes on to persist; a 429 waits', async () => {
    const job = await claimedJob();
    const submitted = await submitStep(input(job));
    if (submitted.kind !== 'wait') throw new Error('expected wait');
    const withTask = { ...job, ...submitted.patch } as Job;
    const running = await pollStep(input(withTask));
    expect(running.kind).toBe('wait');
    fake.throttleNext(1);
    const throttled = await pollStep(input(withTask));
    expect(throttled).toMatchObject({ kind: 'wait' });
    expect(throttled.kind === 'wait' && throttled.patch).toBeFalsy();
    await t.db.updateTable('provider_limits').set({ next_at: 0 }).execute();
    deps = { ...inner, limiter: new FleetLimiter(t.db) };
    const done = await pollStep(input(withTask));
    expect(done).toMatchObject({ kind: 'next', step: 'persist' });
  });

  it('poll: an unreachable provider is not a failure; past the maximum age the job fails', async () => {
    const job = await claimedJob();
    const unreachable = createProviderRegistry({
      dashscope: { apiKey: 'k', baseUrl: 'http://127.0.0.1:9', requestTimeoutMs: 500, maxRetries: 0 },
    });
    const base = input({ ...job, provider_task_id: 'some-task' } as Job);
    const waiting = await pollStep({ ...base, deps: { ...deps, providers: unreachable } });
    expect(waiting.kind).toBe('wait');
    const old = await pollStep({
      ...base,
      deps: { ...deps, providers: unreachable },
      options: { ...options, maxJobAgeMs: -1 },
    });
    expect(old).toMatchObject({ kind: 'fail', code: 'PROVIDER_TIMEOUT' });
  });

  /** A job submitted, handed back, claimed again and polled until its task succeeded. */
  async function finishedTask(prompt?: string): Promise<{ job: Job; reclaimed: Job; result: PollResult }> {
    const job = await claimedJob(prompt);
    const submitted = await submitStep(input(job));
    if (submitted.kind !== 'wait') throw new Error('expected wait');
    const taskId = String(submitted.patch?.provider_task_id);
    await releaseJob(t.db, { id: job.id, owner: OWNER, until: 0, patch: submitted.patch });
    const [reclaimed] = (
      await claimDueJobs(t.db, {
        owner: OWNER,
        limit: 50,
        leaseMs: 60_000,
        now: Date.now(),
        userMaxActive: 10,
      })
    ).filter((j) => j.id === job.id);
    expect(reclaimed?.provider_task_id).toBe(taskId);
    let result: PollResult | undefined;
    for (let i = 0; i < 5 && !result; i++) {
      const outcome = await pollStep(input(reclaimed!));
      if (outcome.kind === 'next') result = outcome.carry as PollResult;
    }
    return { job, reclaimed: reclaimed!, result: result! };
  }

  it('persist then settle: the result is stored, the job succeeds once, and a second settle is a no-op', async () => {
    const { job, reclaimed, result } = await finishedTask();
    const persisted = await persistStep(input(reclaimed, result));
    expect(persisted).toMatchObject({ kind: 'next', step: 'settle' });
    if (persisted.kind !== 'next') throw new Error('expected next');
    const carry = persisted.carry as Persisted;
    expect(carry.stored).toHaveLength(1);
    // A quick store goes straight to settle: no `uploading` write for watchers to miss.
    expect((await findJob(t.db, job.id))?.stage).toBe('generating');
    expect(await settleStep(input(reclaimed, carry))).toEqual({ kind: 'done' });
    expect(await settleStep(input(reclaimed, carry))).toEqual({ kind: 'done' });
    const row = await findJob(t.db, job.id);
    expect(row).toMatchObject({ status: 'succeeded', lease_owner: null, progress: 100 });
    const outputs = await t.db.selectFrom('job_outputs').selectAll().where('job_id', '=', job.id).execute();
    expect(outputs).toHaveLength(1);
    const ledger = await ledgerOf(t.db, row!.user_id);
    expect(ledger.filter((r) => r.kind === 'refund')).toHaveLength(0);
    expect(await balanceOf(t.db, row!.user_id)).toBe(100 - Number(row!.cost));
  });

  it('settle: a waiter in this process gets the completed job and its outputs as stored, with no read; from a stale row the job completes once all the same and the feed reads it', async () => {
    // A feed that looks only when poked, so every query it makes here is one the settle asked for.
    const events = new JobEvents({ db: t.db, feedIntervalMs: 60_000 });
    const settle = async (finished: Awaited<ReturnType<typeof finishedTask>>) => {
      const persisted = await persistStep(input(finished.reclaimed, finished.result));
      if (persisted.kind !== 'next') throw new Error('expected next');
      const waiting = waitForJob({ db: t.db, events }, finished.reclaimed, 10_000);
      await settleStep({
        ...input(finished.reclaimed, persisted.carry as Persisted),
        deps: { ...deps, events },
      });
      return waiting;
    };

    const known = await finishedTask('a kite the worker knows');
    const handed = await settle(known);
    expect(events.feed.queries).toBe(0);
    expect(handed.job).toStrictEqual(await findJob(t.db, known.job.id));
    expect(handed.job.status).toBe('succeeded');
    expect(handed.outputs).toHaveLength(1);
    expect(handed.outputs).toStrictEqual(await outputsOfJob(t.db, known.job.id));

    // A visible write since the worker's read: its status_sequence is stale, so nothing is handed over.
    const stale = await finishedTask('a kite changed behind the worker');
    expect(await updateJob(t.db, stale.job.id, { progress: 42 })).toBe(true);
    const read = await settle(stale);
    expect(events.feed.queries).toBe(1);
    expect(read.job).toEqual(await findJob(t.db, stale.job.id));
    expect(read.job).toMatchObject({
      status: 'succeeded',
      status_sequence: Number(stale.reclaimed.status_sequence) + 2,
    });
    expect(read.outputs).toEqual(await outputsOfJob(t.db, stale.job.id));
    expect(read.outputs).toHaveLength(1);
  });

  it('persist: canceled between two outputs, it deletes the one it had stored and stops', async () => {
    const { job, reclaimed, result } = await finishedTask('two kites, one canceled');
    // Two outputs paid for (the row as the worker holds it), the provider's result twice.
    const two = { ...reclaimed, params: JSON.stringify({ ...jobParams(reclaimed), n: 2 }) };
    const results = { ...result, results: [result.results![0]!, result.results![0]!] };
    const runner = new AbortController();
    const storedKeys: string[] = [];
    const canceling = Object.create(deps.storage) as StepDeps['storage'];
    canceling.put = async (put) => {
      if (storedKeys.length === 1) {
        // The user cancels while the second output uploads; the runner's lease check aborts the step.
        await failJob(deps, job, { code: 'CANCELED', message: 'Canceled' }, { status: 'canceled' });
        runner.abort();
        throw new AppError('STORAGE_UPLOAD_FAILED', 'Upload canceled');
      }
      const out = await deps.storage.put(put);
      storedKeys.push(out.key);
      return out;
    };
    await expect(
      persistStep({ ...input(two, results), signal: runner.signal, deps: { ...deps, storage: canceling } }),
    ).rejects.toBeInstanceOf(Abandoned);
    expect(storedKeys).toHaveLength(1);
    expect(await deps.storage.head(storedKeys[0]!)).toBeNull();
    expect((await findJob(t.db, job.id))?.status).toBe('canceled');
  });

  it('persist: a store that takes a moment shows the job as uploading to its watchers', async () => {
    const { job, reclaimed, result } = await finishedTask('a slow kite');
    const slow = Object.create(deps.storage) as StepDeps['storage'];
    let stageDuringPut: string | undefined;
    slow.put = async (put) => {
      await new Promise((resolve) => setTimeout(resolve, 900));
      stageDuringPut = (await findJob(t.db, job.id))?.stage;
      return deps.storage.put(put);
    };
    const persisted = await persistStep({ ...input(reclaimed, result), deps: { ...deps, storage: slow } });
    expect(persisted).toMatchObject({ kind: 'next', step: 'settle' });
    expect(stageDuringPut).toBe('uploading');
    expect((await findJob(t.db, job.id))?.progress).toBe(80);
  });
});
