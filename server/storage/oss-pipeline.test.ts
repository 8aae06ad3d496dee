import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appCodeOf, callerFor, testInner } from '../../test/context.ts';
import { createTestDb, DIALECTS, type TestDb } from '../../test/db.ts';
import { type EcsMetadataServer, startEcsMetadataServer } from '../../test/fakes/ecs-metadata-server.ts';
import { type OssServer, startOssServer } from '../../test/oss-server/server.ts';
import {
  assertLedgerInvariant,
  balanceOf,
  ledgerOf,
  sha256,
  signUpUser,
  testRunner,
  until,
} from '../../test/pipeline.ts';
import type { InnerContext } from '../context.ts';
import { systemClock } from '../services/clock.ts';
import type { JobRunner } from '../services/jobs/runner.ts';
import { OssStorage } from './oss.ts';
import { EcsRamRoleCredentials } from './oss-credentials.ts';

/**
 * The generation pipeline (demo provider) storing into the OSS test server as on ECS: Signature V4 only,
 * uploads to the internal host with the instance RAM role's STS credentials, URLs on the public host.
 */
describe.each(DIALECTS)('pipeline on OSS with V4, internal endpoint and RAM role on %s', (dialect) => {
  let t: TestDb;
  let inner: InnerContext;
  let runner: JobRunner;
  let ossServer: OssServer;
  let metadata: EcsMetadataServer;
  let dataDir: string;
  let ahead = 0;
  const clock = () => Date.now() + ahead;

  beforeAll(async () => {
    t = await createTestDb(dialect);
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'df-oss-pipeline-'));
    ossServer = await startOssServer({
      dir: path.join(dataDir, 'oss'),
      bucket: 'df-ecs',
      accessKeyId: 'unused-long-term-key',
      accessKeySecret: 'unused-long-term-secret',
    });
    metadata = await startEcsMetadataServer({
      role: 'DreamFactoryOss',
      now: clock,
      onIssue: (issued) => ossServer.addCredentials(issued),
    });
    const storage = new OssStorage({
      bucket: 'df-ecs',
      region: 'oss-cn-hangzhou',
      endpoint: ossServer.url,
      cname: true,
      internalEndpoint: ossServer.internalUrl,
      credentials: new EcsRamRoleCredentials({
        role: 'DreamFactoryOss',
        metadataUrl: metadata.url,
        timeoutMs: 1_000,
        now: clock,
      }),
      urlTtlSeconds: 600,
      timeoutMs: 2_000,
      retries: 2,
      retryBaseDelayMs: 20,
    });
    inner = testInner(t.db, { clock: systemClock, storage, env: { DATA_DIR: dataDir } });
    runner = testRunner(inner);
    runner.start();
  });
  afterAll(async () => {
    await runner?.stop();
    await metadata?.close();
    await ossServer?.close();
    await t?.destroy();
  });

  it('stores outputs through the internal host and hands out V4 URLs on the public host', async () => {
    const user = await signUpUser(inner);
    ossServer.requests.length = 0;
    const { job, outputs } = await callerFor(inner, user).ai.generateImage({ prompt: 'a kite', n: 1 });
    expect(job.status).toBe('succeeded');
    const rows = await t.db.selectFrom('job_outputs').selectAll().where('job_id', '=', job.id).execute();
    expect(rows).toHaveLength(1);
    const row = rows[0]!;
    expect(row.oss_url).toBe(`${ossServer.url}/${row.oss_path}`);
    const puts = ossServer.requests.filter((r) => r.operation === 'PutObject');
    expect(puts).toHaveLength(1);
    expect(puts[0]).toMatchObject({
      host: ossServer.internalHost,
      auth: 'V4',
      securityToken: metadata.issued.at(-1)!.securityToken,
    });

    const output = outputs[0]!;
    for (const url of [output.url, output.thumbnailUrl, output.downloadUrl]) {
      expect(url.startsWith(`${ossServer.url}/`)).toBe(true);
      expect(url).toContain('x-oss-signature-version=OSS4-HMAC-SHA256');
      expect(url).toContain('x-oss-security-token=');
      const res = await fetch(url);
      expect(res.status).toBe(200);
      expect(sha256(Buffer.from(await res.arrayBuffer()))).toBe(row.sha256);
      expect(ossServer.requests.at(-1)).toMatchObject({ host: ossServer.publicHost, auth: 'V4-presigned' });
    }
    expect((await fetch(output.downloadUrl)).headers.get('content-disposition')).toMatch(/^attachment/);
    await assertLedgerInvariant(t.db, user.id);
  });

  it('fails with STORAGE_UPLOAD_FAILED and refunds once when expired credentials cannot be refreshed', async () => {
    const user = await signUpUser(inner);
    const objects = ossServer.objectKeys().length;
    ahead = 6 * 3600_000 + 1000;
    metadata.failWith = 500;
    try {
      expect(await appCodeOf(callerFor(inner, user).ai.generateImage({ prompt: 'no keys today' }))).toBe(
        'STORAGE_UPLOAD_FAILED',
      );
    } finally {
      metadata.failWith = undefined;
      ahead = 0;
    }
    const job = await t.db
      .selectFrom('jobs')
      .selectAll()
      .where('user_id', '=', user.id)
      .executeTakeFirstOrThrow();
    expect(job).toMatchObject({ status: 'failed', error_code: 'STORAGE_UPLOAD_FAILED' });
    expect(Number(job.refunded)).toBe(Number(job.cost));
    expect((await ledgerOf(t.db, user.id)).filter((r) => r.kind === 'refund')).toHaveLength(1);
    expect(
      await t.db.selectFrom('job_outputs').select('id').where('job_id', '=', job.id).execute(),
    ).toHaveLength(0);
    expect(ossServer.objectKeys()).toHaveLength(objects);
    expect(await balanceOf(t.db, user.id)).toBe(100);
    await assertLedgerInvariant(t.db, user.id);
  });

  it('hands a job back at once when its worker stops during a hung upload; the next worker stores it, charged once', async () => {
    // The shared runner stays out of it: one worker that stops mid-upload, then another.
    await runner.stop();
    const storage = new OssStorage({
      bucket: 'df-ecs',
      region: 'oss-cn-hangzhou',
      endpoint: ossServer.url,
      cname: true,
      accessKeyId: 'unused-long-term-key',
      accessKeySecret: 'unused-long-term-secret',
      urlTtlSeconds: 600,
      timeoutMs: 60_000,
      retries: 2,
      retryBaseDelayMs: 20,
    });
    const slow = testInner(t.db, { clock: systemClock, storage, env: { DATA_DIR: dataDir } });
    const user = await signUpUser(slow);
    ossServer.faults.hangNext(Number.POSITIVE_INFINITY, { operation: 'PutObject' });
    const puts = () => ossServer.requests.filter((r) => r.operation === 'PutObject').length;
    const before = puts();
    const first = testRunner(slow);
    first.start();
    const answer = callerFor(slow, user).ai.generateImage({ prompt: 'a stuck upload', n: 1 });
    await until(async () => puts() > before);
    const stopping = Date.now();
    await first.stop();
    expect(Date.now() - stopping).toBeLessThan(5_000);
    const handedBack = await t.db
      .selectFrom('jobs')
      .selectAll()
      .where('user_id', '=', user.id)
      .executeTakeFirstOrThrow();
    expect(handedBack).toMatchObject({ status: 'running', lease_owner: null });

    ossServer.faults.clear();
    runner = testRunner(slow);
    runner.start();
    const { job, outputs } = await answer;
    expect(job.status).toBe('succeeded');
    expect(outputs).toHaveLength(1);
    const res = await fetch(outputs[0]!.url);
    expect(res.status).toBe(200);
    expect((await ledgerOf(t.db, user.id)).filter((r) => r.kind === 'charge')).toHaveLength(1);
    await assertLedgerInvariant(t.db, user.id);
  });
});
