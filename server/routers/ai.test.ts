import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseJson } from '../../db/dialect.ts';
import { appCodeOf, callerFor, testInner } from '../../test/context.ts';
import { createTestDb, DIALECTS, type TestDb } from '../../test/db.ts';
import {
  assertLedgerInvariant,
  balanceOf,
  ledgerOf,
  setBalance,
  sha256,
  signUpUser,
  testRunner,
  until,
} from '../../test/pipeline.ts';
import type { InnerContext } from '../context.ts';
import { logger } from '../logger.ts';
import { createProviderRegistry } from '../providers/registry.ts';
import { systemClock } from '../services/clock.ts';
import type { JobRunner } from '../services/jobs/runner.ts';

const errorData = async (promise: Promise<unknown>) => {
  try {
    await promise;
  } catch (error) {
    return (error as { cause?: { details?: Record<string, unknown> } }).cause?.details ?? {};
  }
  throw new Error('expected a failure');
};

describe.each(DIALECTS)('generation pipeline with the demo provider and local storage on %s', (dialect) => {
  let t: TestDb;
  let inner: InnerContext;
  let runner: JobRunner;
  let dataDir: string;

  beforeAll(async () => {
    t = await createTestDb(dialect);
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'df-pipeline-'));
    inner = testInner(t.db, { clock: systemClock, env: { DATA_DIR: dataDir, SIGNUP_BONUS_CREDITS: '100' } });
    runner = testRunner(inner);
    runner.start();
  });
  afterAll(async () => {
    await runner?.stop();
    await t?.destroy();
  });

  const objectFile = (key: string) => path.join(dataDir, 'objects', key);

  it('charges, generates, stores the PNG and returns only storage URLs', async () => {
    const user = await signUpUser(inner);
    const caller = callerFor(inner, user);
    const { job, outputs } = await caller.ai.generateImage({
      prompt: 'a lighthouse at dusk',
      size: '512x512',
      n: 2,
      seed: 7,
    });
    expect(job.status).toBe('succeeded');
    expect(outputs).toHaveLength(2);
    const rows = await t.db
      .selectFrom('job_outputs')
      .selectAll()
      .where('job_id', '=', job.id)
      .orderBy('oss_path')
      .execute();
    expect(rows).toHaveLength(2);
    for (const [i, row] of rows.entries()) {
      expect(row.oss_path).toMatch(
        new RegExp(`^outputs/${user.id}/\\d{4}/\\d{2}/\\d{2}/${job.id}/${i}\\.png$`),
      );
      expect(row.oss_url).toBe(`/files/${row.oss_path}`);
      expect(row.content_type).toBe('image/png');
      const bytes = fs.readFileSync(objectFile(row.oss_path));
      expect(row.size).toBe(bytes.length);
      expect(row.sha256).toBe(sha256(bytes));
      expect(parseJson(row.meta)).toMatchObject({
        width: 512,
        height: 512,
        provider: 'demo',
        model: 'demo-image',
        seed: 7,
      });
    }
    for (const o of outputs) {
      expect(o.url).toMatch(/^\/files\/outputs\/.+\?.*sig=/);
      const res = await fetchLocal(inner, o.url);
      expect(sha256(res)).toBe(rows.find((r) => r.id === o.id)?.sha256);
    }
    const cost = job.cost;
    expect(cost).toBeGreaterThan(0);
    expect(await balanceOf(t.db, user.id)).toBe(100 - cost);
    const ledger = await ledgerOf(t.db, user.id);
    expect(ledger.map((r) => [r.kind, Number(r.amount)])).toEqual([
      ['signup_bonus', 100],
      ['charge', -cost],
    ]);
    await assertLedgerInvariant(t.db, user.id);
  });

  it("stores every meta key SPEC names, null where it does not apply: no seed chosen, an image's duration, bytes with no host", async () => {
    const user = await signUpUser(inner);
    const { job, outputs } = await callerFor(inner, user).ai.generateImage({ prompt: 'a plain lighthouse' });
    const keys = ['width', 'height', 'duration_seconds', 'provider', 'model', 'seed', 'source_host'];
    const [row] = await t.db.selectFrom('job_outputs').selectAll().where('job_id', '=', job.id).execute();
    for (const meta of [parseJson(row!.meta) as Record<string, unknown>, outputs[0]!.meta]) {
      for (const key of keys) expect(meta, key).toHaveProperty(key);
      expect(meta).toMatchObject({ seed: null, duration_seconds: null, source_host: null, provider: 'demo' });
      expect(meta.width).toEqual(expect.any(Number));
    }
  });

  it('refunds in full and says PROVIDER_FAILED, with the job id, when the provider fails', async () => {
    const user = await signUpUser(inner);
    const lines: string[] = [];
    const restore = logger.setSink((line) => lines.push(line));
    logger.setLevel('warn');
    const attempt = callerFor(inner, user).ai.generateImage({ prompt: 'break please [demo:fail]' });
    const data = await errorData(attempt).finally(() => {
      restore();
      logger.setLevel('silent');
    });
    // The operator's log says why, as the user is told.
    const failed = lines
      .map((l) => JSON.parse(l))
      .find((l) => l.msg === 'job failed' && l.jobId === data.jobId);
    expect(failed).toMatchObject({
      code: 'PROVIDER_FAILED',
      message: 'The demo provider failed on purpose.',
    });
    expect(await appCodeOf(callerFor(inner, user).ai.generateImage({ prompt: 'again [demo:fail]' }))).toBe(
      'PROVIDER_FAILED',
    );
    const job = await t.db
      .selectFrom('jobs')
      .selectAll()
      .where('id', '=', String(data.jobId))
      .executeTakeFirstOrThrow();
    expect(job).toMatchObject({ status: 'failed', error_code: 'PROVIDER_FAILED' });
    expect(Number(job.refunded)).toBe(Number(job.cost));
    expect(await balanceOf(t.db, user.id)).toBe(100);
    const refunds = (await ledgerOf(t.db, user.id)).filter((r) => r.kind === 'refund');
    expect(refunds).toHaveLength(2);
    expect(
      await t.db.selectFrom('job_outputs').select('id').where('user_id', '=', user.id).execute(),
    ).toHaveLength(0);
    await assertLedgerInvariant(t.db, user.id);
  });

  it('refunds and says CONTENT_REJECTED when the provider moderation refuses', async () => {
    const user = await signUpUser(inner);
    expect(await appCodeOf(callerFor(inner, user).ai.generateImage({ prompt: 'nope [demo:reject]' }))).toBe(
      'CONTENT_REJECTED',
    );
    expect(await balanceOf(t.db, user.id)).toBe(100);
    await assertLedgerInvariant(t.db, user.id);
  });

  it('refunds the unpaid part when fewer outputs arrive than were paid for', async () => {
    const user = await signUpUser(inner);
    const { job, outputs } = await callerFor(inner, user).ai.generateImage({
      prompt: 'two please [demo:partial]',
      n: 2,
    });
    expect(outputs).toHaveLength(1);
    expect(job.refunded).toBe(job.cost / 2);
    expect(await balanceOf(t.db, user.id)).toBe(100 - job.cost / 2);
    await assertLedgerInvariant(t.db, user.id);
  });

  it('writes nothing and submits nothing without enough credits', async () => {
    const user = await signUpUser(inner);
    await setBalance(t.db, user.id, 1);
    const jobsBefore = (await t.db.selectFrom('jobs').select('id').execute()).length;
    expect(await appCodeOf(callerFor(inner, user).ai.generateImage({ prompt: 'too dear', n: 4 }))).toBe(
      'INSUFFICIENT_CREDITS',
    );
    expect((await t.db.selectFrom('jobs').select('id').execute()).length).toBe(jobsBefore);
    expect(await balanceOf(t.db, user.id)).toBe(1);
    await assertLedgerInvariant(t.db, user.id);
  });

  it('charges exactly 20 of 50 parallel requests on a balance that covers 20', async () => {
    const user = await signUpUser(inner);
    const models = inner.providers.models();
    const price = models.find((m) => m.id === 'demo-image')!.price as { perImage: number };
    await setBalance(t.db, user.id, 20 * price.perImage);
    const caller = callerFor(inner, user);
    const results = await Promise.allSettled(
      Array.from({ length: 50 }, (_, i) => caller.ai.generateImage({ prompt: `race ${i}`, size: '512x512' })),
    );
    const ok = results.filter((r) => r.status === 'fulfilled');
    expect(ok).toHaveLength(20);
    for (const r of results) {
      if (r.status === 'rejected')
        expect(await appCodeOf(Promise.reject(r.reason))).toBe('INSUFFICIENT_CREDITS');
    }
    const charges = (await ledgerOf(t.db, user.id)).filter((r) => r.kind === 'charge' && r.job_id !== null);
    expect(charges).toHaveLength(20);
    expect(Math.min(...charges.map((c) => Number(c.balance_after)))).toBe(0);
    expect(await balanceOf(t.db, user.id)).toBe(0);
    await assertLedgerInvariant(t.db, user.id);
  });

  it('returns the same job and charges once for a repeated idempotency key, and refuses the key for other input', async () => {
    const user = await signUpUser(inner);
    const caller = callerFor(inner, user);
    const input = { prompt: 'once only', idempotencyKey: 'key-12345678', size: '512x512' };
    const [a, b] = await Promise.all([caller.ai.generateImage(input), caller.ai.generateImage(input)]);
    const c = await caller.ai.generateImage(input);
    expect(new Set([a.job.id, b.job.id, c.job.id]).size).toBe(1);
    expect((await ledgerOf(t.db, user.id)).filter((r) => r.kind === 'charge')).toHaveLength(1);
    expect(await appCodeOf(caller.ai.generateImage({ ...input, prompt: 'something else' }))).toBe(
      'IDEMPOTENCY_CONFLICT',
    );
    expect((await ledgerOf(t.db, user.id)).filter((r) => r.kind === 'charge')).toHaveLength(1);
  });

  it('takes idempotency keys that differ only in letter case as different keys, on every dialect', async () => {
    const user = await signUpUser(inner);
    const caller = callerFor(inner, user);
    const video = (idempotencyKey: string) =>
      caller.ai.generateVideo({ prompt: 'two keys', durationSeconds: 2, idempotencyKey });
    const a = await video('Order-AbC-001');
    const b = await video('order-abc-001');
    expect(b.job.id).not.toBe(a.job.id);
    expect((await ledgerOf(t.db, user.id)).filter((r) => r.kind === 'charge')).toHaveLength(2);
    // Each key still finds its own job.
    expect((await video('order-abc-001')).job.id).toBe(b.job.id);
    expect((await video('Order-AbC-001')).job.id).toBe(a.job.id);
    await assertLedgerInvariant(t.db, user.id);
  });

  it('takes any idempotency key a client may make: a short one, base64, an email-like one', async () => {
    const user = await signUpUser(inner);
    const caller = callerFor(inner, user);
    for (const idempotencyKey of ['k1', 'q+/Zx9==', 'order#7@shop']) {
      const video = () => caller.ai.generateVideo({ prompt: 'keyed', durationSeconds: 2, idempotencyKey });
      const first = await video();
      expect((await video()).job.id).toBe(first.job.id);
    }
    expect((await ledgerOf(t.db, user.id)).filter((r) => r.kind === 'charge')).toHaveLength(3);
    // A key with a space or a control character, or past the column's 128 characters, is refused.
    for (const idempotencyKey of ['two words', 'tab\tkey', 'k'.repeat(129), '']) {
      expect(
        await appCodeOf(caller.ai.generateVideo({ prompt: 'keyed', durationSeconds: 2, idempotencyKey })),
      ).toBe('VALIDATION');
    }
  });

  it('answers a dry run with the quote and a placeholder, writing nothing', async () => {
    const user = await signUpUser(inner);
    const jobsBefore = (await t.db.selectFrom('jobs').select('id').execute()).length;
    const answer = await callerFor(inner, user).ai.generateImage({ prompt: 'how much?', n: 3, dryRun: true });
    expect(answer.outputs[0]?.placeholder).toBe(true);
    expect(answer.job.cost).toBe(3 * (inner.providers.models()[0]!.price as { perImage: number }).perImage);
    expect((await t.db.selectFrom('jobs').select('id').execute()).length).toBe(jobsBefore);
    expect(await balanceOf(t.db, user.id)).toBe(100);
  });

  it('refuses sizes the model does not offer with VALIDATION', async () => {
    const user = await signUpUser(inner);
    expect(await appCodeOf(callerFor(inner, user).ai.generateImage({ prompt: 'odd', size: '333x333' }))).toBe(
      'VALIDATION',
    );
    expect(
      await appCodeOf(callerFor(inner, user).ai.generateImage({ prompt: 'odd', model: 'no-such-model' })),
    ).toBe('VALIDATION');
    expect(await balanceOf(t.db, user.id)).toBe(100);
  });

  it('refuses unknown keys (a misspelt dryRun or idempotencyKey) and prompts with nothing to see or broken characters, charging nothing', async () => {
    const user = await signUpUser(inner);
    const caller = callerFor(inner, user);
    const refused = [
      caller.ai.generateImage({ prompt: 'typo', dry_run: true } as never),
      caller.ai.generateImage({ prompt: 'typo', idempotency_key: 'key-12345678' } as never),
      caller.ai.generateVideo({ prompt: 'typo', dryrun: true } as never),
      caller.ai.generateImage({ prompt: '\u200b \u200d' }),
      caller.ai.generateImage({ prompt: 'a \u0000 nul' }),
      caller.ai.generateImage({ prompt: 'a lone \ud800 surrogate' }),
      caller.ai.generateImage({ prompt: 'fine', negativePrompt: 'lone \udc00' }),
      caller.redeem.redeem({ code: 'ABCD-EFGH', extra: 1 } as never),
    ];
    for (const attempt of refused) expect(await appCodeOf(attempt)).toBe('VALIDATION');
    // Emoji joined by zero-width joiners, tabs and line breaks are text like any other.
    const { job } = await caller.ai.generateImage({ prompt: '👩‍🚀\tin\nspace', dryRun: true });
    expect(job.prompt).toBe('👩‍🚀\tin\nspace');
    expect(await t.db.selectFrom('jobs').select('id').where('user_id', '=', user.id).execute()).toEqual([]);
    expect(await balanceOf(t.db, user.id)).toBe(100);
  });

  it("keeps users apart: B can neither see nor delete A's outputs", async () => {
    const a = await signUpUser(inner);
    const b = await signUpUser(inner);
    const { job, outputs } = await callerFor(inner, a).ai.generateImage({ prompt: 'mine', size: '512x512' });
    const asB = callerFor(inner, b);
    expect(await appCodeOf(asB.jobs.get({ id: job.id }))).toBe('NOT_FOUND');
    expect(await appCodeOf(asB.jobs.cancel({ id: job.id }))).toBe('NOT_FOUND');
    expect(await appCodeOf(asB.outputs.delete({ id: outputs[0]!.id }))).toBe('NOT_FOUND');
    expect((await asB.outputs.list()).items).toHaveLength(0);
    expect((await asB.jobs.list()).items).toHaveLength(0);
    expect(fs.existsSync(objectFile(outputs[0]!.ossPath))).toBe(true);
    // A can, and the object goes with the row.
    const asA = callerFor(inner, a);
    expect((await asA.outputs.list()).items.map((o) => o.id)).toContain(outputs[0]!.id);
    await asA.outputs.delete({ id: outputs[0]!.id });
    expect(fs.existsSync(objectFile(outputs[0]!.ossPath))).toBe(false);
    expect((await asA.outputs.list()).items.map((o) => o.id)).not.toContain(outputs[0]!.id);
  });

  it('refuses to animate a local-disk image with a cloud model before charging anything', async () => {
    const withCloud = testInner(t.db, {
      clock: systemClock,
      storage: inner.storage,
      events: inner.events,
      providers: createProviderRegistry({
        demo: { enabled: true, delayMs: 0 },
        dashscope: { apiKey: 'sk-unused', baseUrl: 'http://127.0.0.1:9' },
      }),
    });
    const user = await signUpUser(withCloud);
    const { outputs } = await callerFor(withCloud, user).ai.generateImage({
      prompt: 'frame',
      model: 'demo-image',
      size: '512x512',
    });
    const before = await balanceOf(t.db, user.id);
    expect(
      await appCodeOf(
        callerFor(withCloud, user).ai.generateVideo({
          prompt: 'go',
          model: 'wan-i2v-plus',
          imageOutputId: outputs[0]!.id,
        }),
      ),
    ).toBe('VALIDATION');
    expect(await balanceOf(t.db, user.id)).toBe(before);
  });

  it('shows operators every job with its failure reason, and only operators', async () => {
    const user = await signUpUser(inner);
    await appCodeOf(callerFor(inner, user).ai.generateImage({ prompt: 'for the ops page [demo:fail]' }));
    expect(await appCodeOf(callerFor(inner, user).admin.jobs.list())).toBe('FORBIDDEN');
    const admin = { ...(await signUpUser(inner)), role: 'admin' as const };
    const { items } = await callerFor(inner, admin).admin.jobs.list({ status: 'failed', limit: 200 });
    const mine = items.find((j) => j.userEmail === user.email);
    expect(mine).toMatchObject({ status: 'failed', error: { code: 'PROVIDER_FAILED' } });
    expect(JSON.stringify(items)).not.toMatch(/lease_owner|provider_task_id|password/);
  });

  it('animates one of your own images into a video', async () => {
    const user = await signUpUser(inner);
    const caller = callerFor(inner, user);
    const { outputs } = await caller.ai.generateImage({ prompt: 'still', size: '512x512' });
    const { job } = await caller.ai.generateVideo({
      prompt: 'move',
      imageOutputId: outputs[0]!.id,
      durationSeconds: 2,
    });
    const done = await until(async () => {
      const r = await caller.jobs.get({ id: job.id });
      return r.job.status === 'succeeded' ? r : null;
    });
    expect(done.outputs[0]).toMatchObject({ kind: 'video', contentType: 'video/mp4' });
    const other = await signUpUser(inner);
    expect(
      await appCodeOf(
        callerFor(inner, other).ai.generateVideo({ prompt: 'x', imageOutputId: outputs[0]!.id }),
      ),
    ).toBe('NOT_FOUND');
  });
});

describe.each(DIALECTS)('cancel on %s', (dialect) => {
  let t: TestDb;
  let inner: InnerContext;
  let runner: JobRunner;
  beforeAll(async () => {
    t = await createTestDb(dialect);
    inner = testInner(t.db, { clock: systemClock, env: { DEMO_DELAY_MS: '60000' } });
    runner = testRunner(inner);
    runner.start();
  });
  afterAll(async () => {
    await runner?.stop();
    await t?.destroy();
  });
  afterEach(() => undefined);

  it('cancels a running job, refunds it once and stores nothing', async () => {
    const user = await signUpUser(inner);
    const caller = callerFor(inner, user);
    const { job } = await caller.ai.generateVideo({ prompt: 'slow one', durationSeconds: 2 });
    await until(async () => (await caller.jobs.get({ id: job.id })).job.status === 'running');
    const canceled = await caller.jobs.cancel({ id: job.id });
    expect(canceled.job).toMatchObject({ status: 'canceled', refunded: job.cost });
    const again = await caller.jobs.cancel({ id: job.id });
    expect(again.job.status).toBe('canceled');
    expect(await balanceOf(t.db, user.id)).toBe(100);
    expect((await ledgerOf(t.db, user.id)).filter((r) => r.kind === 'refund')).toHaveLength(1);
    await until(async () => runner.activeCount === 0);
    expect(
      await t.db.selectFrom('job_outputs').select('id').where('job_id', '=', job.id).execute(),
    ).toHaveLength(0);
    await assertLedgerInvariant(t.db, user.id);
  });
});

async function fetchLocal(inner: InnerContext, url: string): Promise<Buffer> {
  const { startTestServer } = await import('../../test/http.ts');
  const { LocalStorage, localFilesHandler } = await import('../storage/local.ts');
  const storage = inner.storage as InstanceType<typeof LocalStorage>;
  const server = await startTestServer(inner, {
    mounts: [{ path: '/files', handler: localFilesHandler(storage) }],
  });
  try {
    const res = await fetch(`${server.url}${url}`);
    if (res.status !== 200) throw new Error(`GET ${url} → ${res.status}`);
    return Buffer.from(await res.arrayBuffer());
  } finally {
    await server.close();
  }
}
