import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callerFor, testInner } from '../../test/context.ts';
import { createTestDb, DIALECTS, type TestDb } from '../../test/db.ts';
import { signUpUser, testRunner, until } from '../../test/pipeline.ts';
import type { InnerContext } from '../context.ts';
import { systemClock } from '../services/clock.ts';
import type { JobRunner } from '../services/jobs/runner.ts';
import { LocalStorage } from '../storage/local.ts';

describe.each(DIALECTS)('outputs as the gallery sees them on %s', (dialect) => {
  let t: TestDb;
  let inner: InnerContext;
  let runner: JobRunner;

  beforeAll(async () => {
    t = await createTestDb(dialect);
    inner = testInner(t.db, { clock: systemClock, env: { SIGNUP_BONUS_CREDITS: '1000' } });
    runner = testRunner(inner);
    runner.start();
  });
  afterAll(async () => {
    await runner?.stop();
    await t?.destroy();
  });

  it("carries the job's prompt on every output view: generateImage, jobs.get and outputs.list", async () => {
    const user = await signUpUser(inner);
    const caller = callerFor(inner, user);
    const prompt = '红灯笼 lanterns over a quiet street';
    const { job, outputs } = await caller.ai.generateImage({ prompt, size: '512x512' });
    expect(outputs.map((o) => o.prompt)).toEqual([prompt]);
    // The gallery's first visit finds the thumbnail already made (in the background, after the answer).
    expect(inner.storage).toBeInstanceOf(LocalStorage);
    await (inner.storage as LocalStorage).options.thumbnailer!.idle();
    expect(existsSync((inner.storage as LocalStorage).thumbnailPathOf(outputs[0]!.ossPath))).toBe(true);
    const got = await caller.jobs.get({ id: job.id });
    expect(got.outputs.map((o) => o.prompt)).toEqual([prompt]);
    const video = await caller.ai.generateVideo({ prompt: 'waves at dawn', durationSeconds: 2 });
    await until(async () => (await caller.jobs.get({ id: video.job.id })).job.status === 'succeeded');
    const listed = await caller.outputs.list();
    expect(listed.items.map((o) => [o.kind, o.prompt])).toEqual([
      ['video', 'waves at dawn'],
      ['image', prompt],
    ]);
  });

  it('stores a video with its width, height and duration_seconds read from the MP4', async () => {
    const user = await signUpUser(inner);
    const caller = callerFor(inner, user);
    for (const [resolution, width, height] of [
      ['480p', 832, 480],
      ['720p', 1280, 720],
    ] as const) {
      const { job } = await caller.ai.generateVideo({ prompt: 'a kite', durationSeconds: 2, resolution });
      const done = await until(async () => {
        const got = await caller.jobs.get({ id: job.id });
        return got.job.status === 'succeeded' && got;
      });
      expect(done.outputs[0]?.meta).toMatchObject({ width, height, duration_seconds: 2 });
      const poster = (inner.storage as LocalStorage).thumbnailPathOf(done.outputs[0]!.ossPath);
      await (inner.storage as LocalStorage).options.thumbnailer!.idle();
      expect(existsSync(poster)).toBe(true);
    }
  });
});
