import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { testInner } from '../../test/context.ts';
import { createTestDb, DIALECTS, type TestDb } from '../../test/db.ts';
import type { InnerContext } from '../context.ts';
import type { LocalStorage } from '../storage/local.ts';
import { acquireLock, sweep } from './sweep.ts';

const DAY = 24 * 3600 * 1000;

describe.each(DIALECTS)('housekeeping sweep on %s', (dialect) => {
  let t: TestDb;
  let inner: InnerContext;
  let storage: LocalStorage;
  let tmpDir: string;
  const now = Date.now();
  const clock = { now: () => now };

  /** Writes an object file `ageMs` old. */
  const object = (key: string, ageMs: number) => {
    const file = storage.pathOf(key);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, 'bytes');
    const when = new Date(now - ageMs);
    fs.utimesSync(file, when, when);
  };
  const exists = (key: string) => fs.existsSync(storage.pathOf(key));
  const tempDir = (name: string, ageMs: number) => {
    const dir = path.join(tmpDir, name);
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'output'), 'partial download');
    const when = new Date(now - ageMs);
    fs.utimesSync(dir, when, when);
    return dir;
  };

  beforeEach(async () => {
    t = await createTestDb(dialect);
    inner = testInner(t.db, { clock });
    storage = inner.storage as LocalStorage;
    tmpDir = path.join(inner.config.DATA_DIR, 'tmp');
    await t.db
      .insertInto('users')
      .values({
        id: 'u1',
        email: 'u1@example.com',
        password_hash: 'x',
        role: 'user',
        credit_balance: 0,
        created_at: now,
      })
      .execute();
    await t.db
      .insertInto('jobs')
      .values({
        id: 'j1',
        user_id: 'u1',
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
        next_attempt_at: now,
        idempotency_key: null,
        request_hash: null,
        error_code: null,
        error_message: null,
        created_at: now - 3 * DAY,
        started_at: null,
        finished_at: null,
      })
      .execute();
    await t.db
      .insertInto('job_outputs')
      .values({
        id: 'o1',
        job_id: 'j1',
        user_id: 'u1',
        kind: 'image',
        oss_url: '/files/outputs/kept.png',
        oss_path: 'outputs/kept.png',
        size: 5,
        content_type: 'image/png',
        sha256: 'x',
        meta: '{}',
        created_at: now - 3 * DAY,
        deleted_at: null,
        prompt: 'p',
      })
      .execute();
    await t.db
      .insertInto('sessions')
      .values([
        { id: 's-old', user_id: 'u1', token_hash: 'h1', expires_at: now - 1000, created_at: now - 40 * DAY },
        { id: 's-live', user_id: 'u1', token_hash: 'h2', expires_at: now + DAY, created_at: now },
      ])
      .execute();
    object('outputs/kept.png', 3 * DAY); // recorded in job_outputs
    object('outputs/2026/11/u1/failed-job-0.png', 2 * DAY); // orphan, old: goes
    object('outputs/2026/11/u1/failed-job-0.png.a1b2c3.partial', 2 * DAY); // upload leftover: goes
    object('outputs/2026/12/u1/uploading-0.png', 3600 * 1000); // orphan but recent: a job may record it yet
    object('elsewhere/not-ours.png', 5 * DAY); // outside the prefix
  });

  afterEach(async () => {
    await t.destroy();
  });

  it('reports in a dry run and removes nothing', async () => {
    const staleTemp = tempDir('persist-old', 2 * DAY);
    const report = await sweep(inner, { prefix: 'outputs', tmpDir, dryRun: true });
    expect(report.ran).toBe(true);
    expect(report.objects.sort()).toEqual([
      'outputs/2026/11/u1/failed-job-0.png',
      'outputs/2026/11/u1/failed-job-0.png.a1b2c3.partial',
    ]);
    expect(report.sessions).toBe(1);
    expect(report.tempFiles).toEqual([staleTemp]);
    expect(exists('outputs/2026/11/u1/failed-job-0.png')).toBe(true);
    expect(fs.existsSync(staleTemp)).toBe(true);
    expect(await t.db.selectFrom('sessions').select('id').execute()).toHaveLength(2);
  });

  it('deletes orphans older than a day, expired sessions and stale temp folders, and keeps the rest', async () => {
    const staleTemp = tempDir('persist-old', 2 * DAY);
    const freshTemp = tempDir('persist-new', 60_000);
    const report = await sweep(inner, { prefix: 'outputs', tmpDir });
    expect(report.objects).toHaveLength(2);
    expect(exists('outputs/2026/11/u1/failed-job-0.png')).toBe(false);
    expect(exists('outputs/2026/11/u1/failed-job-0.png.a1b2c3.partial')).toBe(false);
    expect(exists('outputs/kept.png')).toBe(true);
    expect(exists('outputs/2026/12/u1/uploading-0.png')).toBe(true);
    expect(exists('elsewhere/not-ours.png')).toBe(true);
    const sessions = await t.db.selectFrom('sessions').select('id').execute();
    expect(sessions.map((s) => s.id)).toEqual(['s-live']);
    expect(fs.existsSync(staleTemp)).toBe(false);
    expect(fs.existsSync(freshTemp)).toBe(true);
    // The lock is released: the next sweep runs and finds nothing left.
    const again = await sweep(inner, { prefix: 'outputs', tmpDir });
    expect(again).toMatchObject({ ran: true, objects: [], uploads: [], sessions: 0, tempFiles: [] });
  });

  it('does nothing while another process holds the lock, and takes over an expired one', async () => {
    expect(await acquireLock(t.db, { name: 'sweep', owner: 'other-process', now, ttlMs: 60_000 })).toBe(true);
    const skipped = await sweep(inner, { prefix: 'outputs', tmpDir });
    expect(skipped.ran).toBe(false);
    expect(exists('outputs/2026/11/u1/failed-job-0.png')).toBe(true);
    expect(await t.db.selectFrom('sessions').select('id').execute()).toHaveLength(2);

    const later = { now: () => now + 120_000 };
    const report = await sweep({ ...inner, clock: later }, { prefix: 'outputs', tmpDir });
    expect(report.ran).toBe(true);
    expect(exists('outputs/2026/11/u1/failed-job-0.png')).toBe(false);
  });
});
