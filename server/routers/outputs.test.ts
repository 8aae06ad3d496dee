import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callerFor, testInner } from '../../test/context.ts';
import { createTestDb, DIALECTS, type TestDb } from '../../test/db.ts';
import { signUpUser, testRunner, until } from '../../test/pipeline.ts';
import type { InnerContext } from '../context.ts';
import { systemClock } from '../services/clock.ts';
import type { JobRunner } from '../services/jobs/runner.ts';

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
});
