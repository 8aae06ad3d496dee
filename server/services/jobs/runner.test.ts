import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { EventSource } from 'eventsource';
import type { Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseJson } from '../../../db/dialect.ts';
import type { Database } from '../../../db/schema.ts';
import { createClient } from '../../../shared/api-client.ts';
import { appCodeOf, callerFor, testInner } from '../../../test/context.ts';
import { createTestDb, DIALECTS, type TestDb } from '../../../test/db.ts';
import { type DashScopeFake, startDashScopeFake } from '../../../test/fakes/dashscope-server.ts';
import { startTestServer } from '../../../test/http.ts';
import { type OssServer, startOssServer } from '../../../test/oss-server/server.ts';
import {
  assertLedgerInvariant,
  balanceOf,
  ledgerOf,
  setBalance,
  sha256,
  signUpUser,
  testRunner,
  until,
} from '../../../test/pipeline.ts';
import type { InnerContext } from '../../context.ts';
import { createProviderRegistry } from '../../providers/registry.ts';
import { OssStorage } from '../../storage/oss.ts';
import { systemClock } from '../clock.ts';
import { startGeneration } from '../generation.ts';
import type { JobRunner } from './runner.ts';

const oss = { accessKeyId: 'pipeline-ak', accessKeySecret: 'pipeline-secret', bucket: 'df-pipeline' };

const readAll = async (stream: NodeJS.ReadableStream) => {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Buffer));
  return Buffer.concat(chunks);
};

describe.each(DIALECTS)('pipeline with the DashScope fake and the OSS test server on %s', (dialect) => {
  let t: TestDb;
  let inner: InnerContext;
  let runner: JobRunner;
  let ossServer: OssServer;
  let fake: DashScopeFake;
  let dataDir: string;

  beforeAll(async () => {
    t = await createTestDb(dialect);
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'df-runner-oss-'));
    ossServer = await startOssServer({ dir: path.join(dataDir, 'oss'), ...oss });
    fake = await startDashScopeFake({ scenario: { states: ['PENDING', 'RUNNING'] } });
    const storage = new OssStorage({
      ...oss,
      region: 'oss-cn-hangzhou',
      endpoint: ossServer.url,
      cname: true,
      urlTtlSeconds: 600,
      timeoutMs: 2_000,
      retries: 2,
      retryBaseDelayMs: 20,
    });
    const providers = createProviderRegistry({
      dashscope: {
        apiKey: fake.apiKey,
        baseUrl: fake.url,
        pollIntervalMs: 20,
        requestTimeoutMs: 1_000,
        retryBaseDelayMs: 20,
      },
    });
    inner = testInner(t.db, {
      clock: systemClock,
      storage,
      providers,
      env: { DATA_DIR: dataDir, DASHSCOPE_API_KEY: fake.apiKey, ALLOW_PRIVATE_NETWORK_FETCH: 'true' },
    });
    runner = testRunner(inner);
    runner.start();
  });
  afterAll(async () => {
    await runner?.stop();
    await fake?.close();
    await ossServer?.close();
    await t?.destroy();
  });

  it('stores the provider result in OSS and hands back only OSS URLs', async () => {
    const user = await signUpUser(inner);
    const { job, outputs } = await callerFor(inner, user).ai.generateImage({
      prompt: 'a red kite',
      model: 'wan-t2i-flash',
      size: '1024x1024',
      n: 2,
    });
    expect(job.status).toBe('succeeded');
    expect(outputs).toHaveLength(2);
    const rows = await t.db.selectFrom('job_outputs').selectAll().where('job_id', '=', job.id).execute();
    for (const row of rows) {
      expect(row.oss_url).toBe(`${ossServer.url}/${row.oss_path}`);
      const bytes = await readAll(ossServer.readObject(row.oss_path));
      expect(sha256(bytes)).toBe(row.sha256);
      expect(row.size).toBe(bytes.length);
      expect(parseJson(row.meta)).toMatchObject({
        width: 1024,
        height: 1024,
        provider: 'dashscope',
        source_host: expect.any(String),
      });
    }
    for (const o of outputs) {
      expect(o.url.startsWith(`${ossServer.url}/outputs/`)).toBe(true);
      expect(o.url).toContain('x-oss-signature-version=OSS4-HMAC-SHA256');
      expect(o.url).not.toContain(fake.url);
      const res = await fetch(o.url);
      expect(res.status).toBe(200);
      expect(sha256(Buffer.from(await res.arrayBuffer()))).toBe(rows.find((r) => r.id === o.id)?.sha256);
    }
    expect(await balanceOf(t.db, user.id)).toBe(100 - job.cost);
    await assertLedgerInvariant(t.db, user.id);
  });

  /** ai.generateImage while `fault` is set on the OSS server: STORAGE_UPLOAD_FAILED, the job failed and refunded once. */
  async function failedUnder(fault: () => void, prompt: string) {
    const user = await signUpUser(inner);
    const before = ossServer.objectKeys().length;
    fault();
    try {
      expect(
        await appCodeOf(callerFor(inner, user).ai.generateImage({ prompt, model: 'wan-t2i-flash' })),
      ).toBe('STORAGE_UPLOAD_FAILED');
    } finally {
      ossServer.faults.clear();
    }
    const job = await t.db
      .selectFrom('jobs')
      .selectAll()
      .where('user_id', '=', user.id)
      .executeTakeFirstOrThrow();
    expect(job).toMatchObject({ status: 'failed', error_code: 'STORAGE_UPLOAD_FAILED' });
    expect(Number(job.refunded)).toBe(Number(job.cost));
    expect((await ledgerOf(t.db, user.id)).filter((r) => r.kind === 'refund')).toHaveLength(1);
    return { user, job, before };
  }

  it('fails with STORAGE_UPLOAD_FAILED, refunds once and leaves no row, object or multipart upload when OSS keeps failing', async () => {
    const { user, job, before } = await failedUnder(
      () => ossServer.faults.failNext(Number.POSITIVE_INFINITY),
      'unlucky',
    );
    expect(
      await t.db.selectFrom('job_outputs').select('id').where('job_id', '=', job.id).execute(),
    ).toHaveLength(0);
    expect(ossServer.objectKeys().length).toBe(before);
    expect(ossServer.listMultipartUploads()).toHaveLength(0);
    expect(await balanceOf(t.db, user.id)).toBe(100);
  });

  it('a put whose answer was lost: the job fails, refunded once, and the runner deletes what the upload left', async () => {
    // OSS stores each upload and the answer never arrives: for the client, every attempt failed.
    const { user, job, before } = await failedUnder(
      () => ossServer.faults.loseAnswerNext(Number.POSITIVE_INFINITY, { operation: 'PutObject' }),
      'lost answers',
    );
    expect(ossServer.requests.some((r) => r.operation === 'PutObject' && r.status === 'lost')).toBe(true);
    // The job failed under the runner's lease, so the object its upload left was its own to delete.
    await until(async () => ossServer.objectKeys().length === before);
    expect(ossServer.objectKeys().filter((k) => k.includes(job.id))).toEqual([]);
    await assertLedgerInvariant(t.db, user.id);
  });

  it('submits nothing and writes nothing when the credits do not cover the request', async () => {
    const user = await signUpUser(inner);
    await setBalance(t.db, user.id, 10);
    const submissions = fake.submissions;
    const jobs = (await t.db.selectFrom('jobs').select('id').execute()).length;
    expect(
      await appCodeOf(
        callerFor(inner, user).ai.generateImage({ prompt: 'too many', model: 'wan-t2i-plus', n: 4 }),
      ),
    ).toBe('INSUFFICIENT_CREDITS');
    expect(fake.submissions).toBe(submissions);
    expect((await t.db.selectFrom('jobs').select('id').execute()).length).toBe(jobs);
    expect(await balanceOf(t.db, user.id)).toBe(10);
  });

  it('refunds a task the provider reports FAILED, and one refused by content inspection', async () => {
    const user = await signUpUser(inner);
    const caller = callerFor(inner, user);
    fake.setScenario({ outcome: 'failed' });
    expect(await appCodeOf(caller.ai.generateImage({ prompt: 'will fail', model: 'wan-t2i-flash' }))).toBe(
      'PROVIDER_FAILED',
    );
    fake.setScenario({ outcome: 'data-inspection' });
    expect(
      await appCodeOf(caller.ai.generateImage({ prompt: 'will be refused', model: 'wan-t2i-flash' })),
    ).toBe('CONTENT_REJECTED');
    fake.setScenario({ outcome: 'succeeded' });
    expect(await balanceOf(t.db, user.id)).toBe(100);
    expect((await ledgerOf(t.db, user.id)).filter((r) => r.kind === 'refund')).toHaveLength(2);
    await assertLedgerInvariant(t.db, user.id);
  });

  it('keeps polling through provider timeouts instead of refunding, and succeeds', async () => {
    const user = await signUpUser(inner);
    fake.setScenario({ states: ['PENDING', 'RUNNING', 'RUNNING', 'RUNNING'] });
    const caller = callerFor(inner, user);
    const pending = caller.ai.generateImage({ prompt: 'patience', model: 'wan-t2i-flash' });
    const job = await until(() =>
      t.db
        .selectFrom('jobs')
        .selectAll()
        .where('user_id', '=', user.id)
        .where('provider_task_id', 'is not', null)
        .executeTakeFirst(),
    );
    fake.hangNext(3, 1_500);
    const { job: done } = await pending;
    fake.setScenario({ states: ['PENDING', 'RUNNING'] });
    expect(done).toMatchObject({ id: job.id, status: 'succeeded', refunded: 0 });
    expect((await ledgerOf(t.db, user.id)).filter((r) => r.kind === 'refund')).toHaveLength(0);
  });

  it('watches a video job to success over SSE with the typed client and an API token', async () => {
    const server = await startTestServer(inner);
    try {
      const user = await signUpUser(inner);
      const { token } = await callerFor(inner, user).apiTokens.create({ name: 'sse' });
      // The README's example: createClient({ url, token }).
      const client = createClient({ url: server.url, token, EventSource });
      const { job } = await client.ai.generateVideo.mutate({ prompt: 'waves', model: 'wan-t2v-turbo' });
      const snapshots: { status: string; statusSequence: number; stage: string }[] = [];
      await new Promise<void>((resolve, reject) => {
        const sub = client.jobs.watch.subscribe(
          { id: job.id },
          {
            onData: ({ data }) => {
              snapshots.push(data);
              if (['succeeded', 'failed', 'canceled'].includes(data.status)) {
                sub.unsubscribe();
                resolve();
              }
            },
            onError: reject,
          },
        );
      });
      expect(snapshots.at(-1)?.status).toBe('succeeded');
      const sequences = snapshots.map((s) => s.statusSequence);
      expect([...sequences].sort((a, b) => a - b)).toEqual(sequences);
      expect(new Set(sequences).size).toBe(sequences.length);
      expect(snapshots.some((s) => s.stage === 'generating' || s.stage === 'uploading')).toBe(true);
      const { outputs } = await client.jobs.get.query({ id: job.id });
      expect(outputs).toHaveLength(1);
      expect(outputs[0]).toMatchObject({ kind: 'video', contentType: 'video/mp4' });
      expect(outputs[0]!.url.startsWith(ossServer.url)).toBe(true);
      const mp4 = Buffer.from(await (await fetch(outputs[0]!.url)).arrayBuffer());
      expect(mp4.subarray(4, 8).toString('latin1')).toBe('ftyp');
    } finally {
      await server.close();
    }
  });
});

describe.each(DIALECTS)('crash recovery on %s', (dialect) => {
  let t: TestDb;
  let fake: DashScopeFake;
  let child: ChildProcess | undefined;
  let runner: JobRunner | undefined;
  let dataDir: string;

  beforeAll(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'df-crash-'));
    t = await createTestDb(dialect, { file: path.join(dataDir, 'crash.sqlite') });
    // Tasks take 6 s whoever polls: the worker's first look at an image comes after 5 s.
    fake = await startDashScopeFake({ scenario: { latencyMs: 6_000 } });
  });
  afterAll(async () => {
    child?.kill('SIGKILL');
    await runner?.stop();
    await fake?.close();
    await t?.destroy();
  });

  const jobRow = (id: string) => t.db.selectFrom('jobs').selectAll().where('id', '=', id).executeTakeFirst();

  /** A fresh runner (1 s leases) works until the job succeeds; the job's row then. */
  async function runToSuccess(inner: InnerContext, jobId: string) {
    runner = testRunner(inner, { leaseMs: 1_000 });
    runner.start();
    const done = await until(async () => {
      const row = await jobRow(jobId);
      return row?.status === 'succeeded' ? row : undefined;
    }, 30_000);
    await runner.stop();
    return done;
  }

  /** A new user's DashScope image job, queued and charged, through `db`; the fake's submits so far. */
  async function queueImage(db: Kysely<Database>, prompt: string, env: Record<string, string>) {
    const inner = testInner(db, {
      clock: systemClock,
      env,
      providers: createProviderRegistry({
        dashscope: { apiKey: fake.apiKey, baseUrl: fake.url, pollIntervalMs: 20 },
      }),
    });
    const user = await signUpUser(inner);
    const submissions = fake.submissions;
    const start = await startGeneration(inner, {
      kind: 'image',
      userId: user.id,
      prompt,
      model: 'wan-t2i-flash',
    });
    if (start.dryRun) throw new Error('unexpected dry run');
    return { inner, user, start, submissions };
  }

  it('records the task id through a database blip right after the submit: one submit, not two', async () => {
    // The write that stores the provider's task id fails once, as when the connection drops just then.
    let refused = 0;
    const blinking = t.db.withPlugin({
      transformQuery: (args) => {
        if (
          args.node.kind === 'UpdateQueryNode' &&
          refused === 0 &&
          JSON.stringify(args.node).includes('provider_task_id')
        ) {
          refused += 1;
          throw new Error('Connection lost: The server closed the connection.');
        }
        return args.node;
      },
      transformResult: async (args) => args.result,
    });
    const { inner, user, start, submissions } = await queueImage(blinking, 'a blip after the submit', {
      DASHSCOPE_API_KEY: fake.apiKey,
      DASHSCOPE_BASE_URL: fake.url,
      ALLOW_PRIVATE_NETWORK_FETCH: 'true',
    });
    const done = await runToSuccess(inner, start.job.id);
    expect(done.lease_owner).toBeNull();
    expect(refused).toBe(1);
    expect(fake.submissions - submissions).toBe(1);
    const ledger = await ledgerOf(t.db, user.id);
    expect(ledger.filter((r) => r.kind === 'charge')).toHaveLength(1);
    expect(ledger.filter((r) => r.kind === 'refund')).toHaveLength(0);
  });

  /** The settings of a worker process and of this test's own runner: the DashScope fake, 1 s leases. */
  const crashEnv = () => ({
    DATA_DIR: dataDir,
    APP_SECRET: 'crash-secret-crash-secret-crash-secret',
    DASHSCOPE_API_KEY: fake.apiKey,
    DASHSCOPE_BASE_URL: fake.url,
    ALLOW_PRIVATE_NETWORK_FETCH: 'true',
    JOB_LEASE_MS: '1000',
    LOG_LEVEL: 'silent',
  });
  /** A separate worker process on this test's database. */
  const spawnWorker = (env: Record<string, string>) =>
    spawn(process.execPath, ['--import', 'tsx', 'server/index.ts'], {
      env: { ...process.env, ...env, ROLE: 'worker', PORT: '0', DATABASE_URL: t.url },
      stdio: 'ignore',
    });

  it('never submits a job twice after its worker process is killed mid-submit: the job fails, refunded once', async () => {
    const env = crashEnv();
    const prompt = 'killed with its submit on the wire';
    const { inner, user, start } = await queueImage(t.db, prompt, env);
    const submitsOf = () =>
      fake.requests.filter(
        (r) => r.method === 'POST' && (r.body as { input?: { prompt?: string } })?.input?.prompt === prompt,
      ).length;
    // The provider takes the submit (and will make the task) but answers only after the worker is dead.
    fake.hangNext(1, 3_000);
    child = spawnWorker(env);
    await until(async () => submitsOf() === 1, 30_000);
    child.kill('SIGKILL');
    await new Promise((r) => child?.once('exit', r));

    // Another worker claims the job once the lease has expired: the provider may hold a task for it, so
    // it is not sent again; it fails and is refunded.
    runner = testRunner(inner, { leaseMs: 1_000 });
    runner.start();
    const done = await until(async () => {
      const row = await jobRow(start.job.id);
      return row?.status === 'failed' ? row : undefined;
    }, 30_000);
    // The hung submit's task is made at the provider once its answer (to nobody) is due.
    await until(async () => [...fake.tasks.values()].some((task) => task.prompt === prompt), 10_000);
    await runner.stop();
    expect(submitsOf()).toBe(1);
    expect(done.error_code).toBe('PROVIDER_FAILED');
    expect(done.lease_owner).toBeNull();
    const ledger = await ledgerOf(t.db, user.id);
    expect(ledger.filter((r) => r.kind === 'charge')).toHaveLength(1);
    expect(ledger.filter((r) => r.kind === 'refund')).toHaveLength(1);
    await assertLedgerInvariant(t.db, user.id);
  });

  it.each([
    ['mid-poll', 'poll'],
    ['mid-upload', 'upload'],
  ] as const)(
    'finishes a job once, with one submit and one charge, after its worker process is killed %s',
    async (_name, when) => {
      const env = crashEnv();
      const { inner, user, start, submissions } = await queueImage(t.db, `survive ${when}`, env);

      // A separate worker process claims the job and submits it to the provider...
      child = spawnWorker(env);
      const submitted = await until(async () => {
        const row = await jobRow(start.job.id);
        return row?.provider_task_id ? row : undefined;
      }, 30_000);
      // ...waits for its first poll holding nothing...
      expect(submitted.lease_owner).toBeNull();
      expect(submitted.next_attempt_at).toBeGreaterThan(Date.now());
      // ...and is killed while it holds the job: inside a poll the provider does not answer, or inside
      // the download of the result.
      if (when === 'poll') fake.hangNext(1, 20_000);
      else fake.hangFilesNext(1, 20_000);
      const held = await until(async () => {
        const row = await jobRow(start.job.id);
        if (!row?.lease_owner) return undefined;
        return when === 'upload' && row.stage !== 'uploading' ? undefined : row;
      }, 30_000);
      expect(held.lease_owner).toMatch(/^worker-/);
      await new Promise((r) => setTimeout(r, 200));
      child.kill('SIGKILL');
      await new Promise((r) => child?.once('exit', r));

      // Another worker picks the job up once the lease expires, and resumes by polling.
      const done = await runToSuccess(inner, start.job.id);
      expect(done.lease_owner).toBeNull();
      expect(fake.submissions - submissions).toBe(1);
      // One fresh claim and one recovery from the dead worker; the polls in between are not attempts.
      expect(Number(done.attempts)).toBe(2);
      const ledger = await ledgerOf(t.db, user.id);
      expect(ledger.filter((r) => r.kind === 'charge')).toHaveLength(1);
      expect(ledger.filter((r) => r.kind === 'refund')).toHaveLength(0);
      const outputs = await t.db
        .selectFrom('job_outputs')
        .selectAll()
        .where('job_id', '=', done.id)
        .execute();
      expect(outputs).toHaveLength(1);
      expect(fs.existsSync(path.join(dataDir, 'objects', outputs[0]!.oss_path))).toBe(true);
      await assertLedgerInvariant(t.db, user.id);
    },
  );
});
