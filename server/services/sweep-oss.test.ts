import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import OSS from 'ali-oss';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDb, type TestDb } from '../../test/db.ts';
import { type OssServer, startOssServer } from '../../test/oss-server/server.ts';
import { OssStorage } from '../storage/oss.ts';
import { sweep } from './sweep.ts';

// The sweep's object listing over the real ali-oss client (ListObjectsV2) against the repo's OSS server.
describe('housekeeping sweep on OSS', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'df-sweep-oss-'));
  const credentials = { accessKeyId: 'sweep-ak', accessKeySecret: 'sweep-secret' };
  let server: OssServer;
  let t: TestDb;
  let storage: OssStorage;

  beforeAll(async () => {
    server = await startOssServer({ dir: path.join(dir, 'oss'), bucket: 'df-sweep', ...credentials });
    storage = new OssStorage({
      bucket: 'df-sweep',
      region: 'oss-cn-hangzhou',
      endpoint: server.url,
      cname: true,
      ...credentials,
      prefix: 'outputs',
      urlTtlSeconds: 600,
      timeoutMs: 5_000,
    });
    t = await createTestDb('sqlite');
  });
  afterAll(async () => {
    await t.destroy();
    await server.close();
  });

  it('lists the objects under the prefix and deletes the ones no output row points at', async () => {
    const file = path.join(dir, 'bytes.png');
    fs.writeFileSync(file, 'not really a png');
    const keys = ['outputs/a/kept.png', 'outputs/a/orphan-0.png', 'outputs/b/orphan-1.png', 'other/keep.png'];
    for (const key of keys) await storage.put({ key, filePath: file, contentType: 'image/png', size: 16 });

    const listed = [];
    for await (const o of storage.list('outputs/')) listed.push(o);
    expect(listed.map((o) => o.key)).toEqual([
      'outputs/a/kept.png',
      'outputs/a/orphan-0.png',
      'outputs/b/orphan-1.png',
    ]);
    expect(listed[0]).toMatchObject({ size: 16, lastModified: expect.any(Number) });

    await t.db
      .insertInto('users')
      .values({
        id: 'u',
        email: 'u@example.com',
        password_hash: 'x',
        role: 'user',
        credit_balance: 0,
        created_at: 0,
      })
      .execute();
    await t.db
      .insertInto('jobs')
      .values({
        id: 'j',
        user_id: 'u',
        kind: 'image',
        status: 'succeeded',
        stage: 'done',
        progress: 100,
        status_sequence: 3,
        model: 'demo-image',
        provider: 'demo',
        prompt: 'p',
        params: '{}',
        cost: 0,
        refunded: 0,
        provider_task_id: null,
        submit_sent_at: null,
        attempts: 1,
        lease_owner: null,
        lease_until: null,
        next_attempt_at: 0,
        idempotency_key: null,
        request_hash: null,
        error_code: null,
        error_message: null,
        created_at: 0,
        started_at: null,
        finished_at: null,
      })
      .execute();
    await t.db
      .insertInto('job_outputs')
      .values({
        id: 'o',
        job_id: 'j',
        user_id: 'u',
        kind: 'image',
        oss_url: storage.canonicalUrl('outputs/a/kept.png'),
        oss_path: 'outputs/a/kept.png',
        size: 16,
        content_type: 'image/png',
        sha256: 'x',
        meta: '{}',
        created_at: 0,
        deleted_at: null,
        prompt: 'p',
      })
      .execute();

    const clock = { now: () => Date.now() + 1000 };
    // Objects younger than a day stay…
    const young = await sweep(
      { db: t.db, storage, clock },
      { prefix: 'outputs', tmpDir: path.join(dir, 'tmp') },
    );
    expect(young.objects).toEqual([]);
    // …and with the age limit passed, the two orphans go.
    const report = await sweep(
      { db: t.db, storage, clock },
      { prefix: 'outputs', tmpDir: path.join(dir, 'tmp'), minAgeMs: 0 },
    );
    expect(report.objects.sort()).toEqual(['outputs/a/orphan-0.png', 'outputs/b/orphan-1.png']);
    expect(server.objectKeys().sort()).toEqual(['other/keep.png', 'outputs/a/kept.png']);
  });

  it('aborts the multipart uploads a killed worker left open for a day under the prefix, and no other', async () => {
    const oss = new OSS({
      ...credentials,
      bucket: 'df-sweep',
      region: 'oss-cn-hangzhou',
      endpoint: server.url,
      cname: true,
      authorizationV4: true,
      timeout: 5_000,
    });
    const left = await oss.initMultipartUpload('outputs/u/2026/12/02/j/0.mp4');
    const other = await oss.initMultipartUpload('other/0.mp4');
    const openUnder = async (prefix: string) => {
      const ids = [];
      for await (const u of storage.openUploads(prefix)) ids.push(u.uploadId);
      return ids;
    };
    expect(await openUnder('outputs/')).toEqual([left.uploadId]);

    const fresh = await sweep(
      { db: t.db, storage, clock: { now: () => Date.now() } },
      { prefix: 'outputs', tmpDir: path.join(dir, 'tmp') },
    );
    // Initiated moments ago: it may be a live upload, and stays.
    expect(fresh.uploads).toEqual([]);
    const dayLater = { now: () => Date.now() + 25 * 3600_000 };
    const dry = await sweep(
      { db: t.db, storage, clock: dayLater },
      { prefix: 'outputs', tmpDir: path.join(dir, 'tmp'), dryRun: true },
    );
    expect(dry.uploads).toEqual([`outputs/u/2026/12/02/j/0.mp4 ${left.uploadId}`]);
    expect(await openUnder('outputs/')).toEqual([left.uploadId]);
    const report = await sweep(
      { db: t.db, storage, clock: dayLater },
      { prefix: 'outputs', tmpDir: path.join(dir, 'tmp') },
    );
    expect(report.uploads).toEqual([`outputs/u/2026/12/02/j/0.mp4 ${left.uploadId}`]);
    expect(await openUnder('outputs/')).toEqual([]);
    expect(await openUnder('other/')).toEqual([other.uploadId]);
  });
});
