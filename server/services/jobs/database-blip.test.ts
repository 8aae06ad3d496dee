import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { testInner } from '../../../test/context.ts';
import { DIALECTS } from '../../../test/db.ts';
import { startDashScopeFake } from '../../../test/fakes/dashscope-server.ts';
import { ledgerOf, signUpUser, testRunner, until } from '../../../test/pipeline.ts';
import { mysqlBehindProxy } from '../../../test/proxy.ts';
import { createProviderRegistry } from '../../providers/registry.ts';
import { systemClock } from '../clock.ts';
import { startGeneration } from '../generation.ts';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

describe.runIf(DIALECTS.includes('mysql'))('a worker whose database goes away mid-job (MariaDB)', () => {
  it('does not fail the paid job: it waits, resumes by polling once the database is back, and succeeds, charged once', async () => {
    // The worker reaches the database only through the proxy; the test reads it directly.
    const { db, direct, proxy, destroy } = await mysqlBehindProxy();
    cleanups.push(destroy);
    const fake = await startDashScopeFake({ scenario: { states: ['RUNNING'] } });
    cleanups.push(() => fake.close());
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'df-blip-'));
    const inner = testInner(db, {
      clock: systemClock,
      env: { DATA_DIR: dataDir, DASHSCOPE_API_KEY: fake.apiKey },
      providers: createProviderRegistry({
        dashscope: { apiKey: fake.apiKey, baseUrl: fake.url, pollIntervalMs: 20 },
      }),
    });
    const user = await signUpUser(inner);
    const start = await startGeneration(inner, {
      kind: 'image',
      userId: user.id,
      prompt: 'through the outage',
      model: 'wan-t2i-flash',
    });
    if (start.dryRun) throw new Error('dry run');
    // The result's download takes 1.5 s: the database goes away meanwhile, so the job's next writes
    // (stored outputs, succeeded) meet a database that does not answer.
    fake.hangFilesNext(1, 1_500);
    const runner = testRunner(inner, { leaseMs: 4_000 });
    cleanups.push(() => runner.stop());
    runner.start();
    await until(async () => [...fake.tasks.values()].some((task) => task.seenDoneAt !== undefined), 15_000);
    await proxy.cut();
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    const during = await direct
      .selectFrom('jobs')
      .selectAll()
      .where('id', '=', start.job.id)
      .executeTakeFirstOrThrow();
    expect(during.status).toBe('running');
    await proxy.restore();

    const done = await until(async () => {
      const job = await direct
        .selectFrom('jobs')
        .selectAll()
        .where('id', '=', start.job.id)
        .executeTakeFirst();
      return job && job.status !== 'running' && job.status !== 'queued' ? job : undefined;
    }, 20_000);
    expect(done.status).toBe('succeeded');
    expect(fake.submissions).toBe(1);
    const ledger = await ledgerOf(direct, user.id);
    expect(ledger.filter((row) => row.kind === 'charge')).toHaveLength(1);
    expect(ledger.filter((row) => row.kind === 'refund')).toHaveLength(0);
    const outputs = await direct
      .selectFrom('job_outputs')
      .selectAll()
      .where('job_id', '=', done.id)
      .execute();
    expect(outputs).toHaveLength(1);
    expect(await inner.storage.head(outputs[0]!.oss_path)).not.toBeNull();
  }, 60_000);
});
