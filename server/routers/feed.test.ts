import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callerFor, testInner } from '../../test/context.ts';
import { createTestDb, DIALECTS, type TestDb } from '../../test/db.ts';
import { setBalance, signUpUser, testRunner, until } from '../../test/pipeline.ts';
import type { InnerContext } from '../context.ts';
import { systemClock } from '../services/clock.ts';
import type { JobRunner } from '../services/jobs/runner.ts';

// The Create page's job feed (jobs.list with outputs and params) and ledger rows that name their job.
describe.each(DIALECTS)('job feed and readable ledger on %s', (dialect) => {
  let t: TestDb;
  let inner: InnerContext;
  let runner: JobRunner;
  let dataDir: string;

  beforeAll(async () => {
    t = await createTestDb(dialect);
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'df-feed-'));
    inner = testInner(t.db, { clock: systemClock, env: { DATA_DIR: dataDir, SIGNUP_BONUS_CREDITS: '100' } });
    runner = testRunner(inner);
    runner.start();
  });
  afterAll(async () => {
    await runner?.stop();
    await t?.destroy();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('lists jobs newest first with their outputs and every generation setting', async () => {
    const user = await signUpUser(inner);
    const caller = callerFor(inner, user);
    const image = await caller.ai.generateImage({
      prompt: 'a red lantern',
      negativePrompt: 'blur',
      size: '768x1024',
      n: 2,
      seed: 42,
    });
    await caller.ai.generateImage({ prompt: 'broken [demo:fail]' }).catch(() => undefined);
    const video = await caller.ai.generateVideo({
      prompt: 'the lantern sways',
      durationSeconds: 2,
      resolution: '720p',
      imageOutputId: image.outputs[0]!.id,
      seed: 9,
    });
    await until(async () => (await caller.jobs.get({ id: video.job.id })).job.status === 'succeeded');

    const { items } = await caller.jobs.list({ limit: 10 });
    expect(items.map((j) => j.status)).toEqual(['succeeded', 'failed', 'succeeded']);
    const [videoJob, failed, imageJob] = items;
    expect(imageJob?.params).toMatchObject({ size: '768x1024', n: 2, seed: 42, negativePrompt: 'blur' });
    expect(imageJob?.outputs.map((o) => o.id)).toEqual(image.outputs.map((o) => o.id));
    expect(imageJob?.outputs[0]?.prompt).toBe('a red lantern');
    expect(failed?.outputs).toEqual([]);
    expect(failed?.error?.code).toBe('PROVIDER_FAILED');
    expect(videoJob?.params).toMatchObject({
      durationSeconds: 2,
      resolution: '720p',
      seed: 9,
      imageOutputId: image.outputs[0]!.id,
    });
    expect(videoJob?.outputs).toHaveLength(1);
    expect(videoJob?.outputs[0]?.kind).toBe('video');

    // A deleted output leaves the feed; another user's jobs never enter it.
    await caller.outputs.delete({ id: image.outputs[1]!.id });
    const other = callerFor(inner, await signUpUser(inner));
    expect((await other.jobs.list({ limit: 10 })).items).toEqual([]);
    const again = await caller.jobs.list({ limit: 10 });
    expect(again.items[2]?.outputs.map((o) => o.id)).toEqual([image.outputs[0]!.id]);
  });

  it('names the job of each charge and refund in the history, and null for the rest', async () => {
    const user = await signUpUser(inner);
    const caller = callerFor(inner, user);
    const video = await caller.ai.generateVideo({ prompt: 'waves at dawn', durationSeconds: 4 });
    await until(async () => (await caller.jobs.get({ id: video.job.id })).job.status === 'succeeded');
    await caller.ai.generateImage({ prompt: 'no [demo:reject]', n: 3 }).catch(() => undefined);

    const { items } = await caller.credits.history({ limit: 10 });
    expect(items.map((r) => r.kind)).toEqual(['refund', 'charge', 'charge', 'signup_bonus']);
    expect(items[3]?.job).toBeNull();
    expect(items[2]?.job).toEqual({
      id: video.job.id,
      kind: 'video',
      model: 'demo-video',
      prompt: 'waves at dawn',
      durationSeconds: 4,
      n: 1,
    });
    expect(items[0]?.job).toMatchObject({ kind: 'image', prompt: 'no [demo:reject]', n: 3 });
    expect(items[0]?.job?.id).toBe(items[1]?.job?.id);
    // The English note stays for API users.
    expect(items[2]?.note).toBe('demo-video video');
  });

  it('gives failures a reason code with parameters for the client to translate', async () => {
    const user = await signUpUser(inner);
    const caller = callerFor(inner, user);
    const causeOf = (promise: Promise<unknown>) =>
      promise.then(
        () => {
          throw new Error('expected a failure');
        },
        (error: { cause?: { code?: string; reason?: string; params?: unknown } }) => error.cause,
      );
    await setBalance(t.db, user.id, 10);
    const short = await causeOf(
      caller.ai.generateVideo({ prompt: 'long', durationSeconds: 6, resolution: '720p' }),
    );
    expect(short).toMatchObject({
      code: 'INSUFFICIENT_CREDITS',
      reason: 'NOT_ENOUGH_CREDITS',
      params: { needed: 18 },
    });
    expect(await causeOf(caller.ai.generateImage({ prompt: 'x', size: '333x333' }))).toMatchObject({
      code: 'VALIDATION',
      reason: 'PARAMS_NOT_OFFERED',
      params: { fields: 'size' },
    });
    expect(await causeOf(caller.jobs.get({ id: 'nope' }))).toMatchObject({
      code: 'NOT_FOUND',
      reason: 'JOB_NOT_FOUND',
    });
  });
});
