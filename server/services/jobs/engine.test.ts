import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from '../../../db/connect.ts';
import type { Database, Job, NewJob } from '../../../db/schema.ts';
import { testInner } from '../../../test/context.ts';
import { createTestDb, DIALECTS, type TestDb } from '../../../test/db.ts';
import { startDashScopeFake } from '../../../test/fakes/dashscope-server.ts';
import { balanceOf, jobRow, ledgerOf, signUpUser, testRunner, until } from '../../../test/pipeline.ts';
import { createProviderRegistry } from '../../providers/registry.ts';
import { systemClock } from '../clock.ts';
import { cancelJob, startGeneration } from '../generation.ts';
import { FleetLimiter } from './limiter.ts';
import type { JobRunner } from './runner.ts';
import { STEPS } from './steps/index.ts';
import type { Step } from './steps/step.ts';
import { claimDueJobs, claimJobs, dueCandidates, releaseJob, renewLeases } from './store.ts';

/** Rows of small demo images queued a minute before `now`, the i-th a millisecond after the one before. */
const queuedImages =
  (now: number) =>
  (userId: string, i: number): NewJob =>
    jobRow(userId, {
      prompt: `queued ${i}`,
      params: JSON.stringify({ n: 1, size: '256x256' }),
      next_attempt_at: now - 60_000 + i,
      created_at: now,
    });

/** Out of the way of the tests after: these users' unfinished jobs canceled, their leases dropped. */
const cancelAll = (db: Kysely<Database>, userIds: string[]) =>
  db
    .updateTable('jobs')
    .set({ status: 'canceled', lease_owner: null, lease_until: null })
    .where('user_id', 'in', userIds)
    .where('status', 'in', ['queued', 'running'])
    .execute();

const jobsOf = (db: Kysely<Database>, userId: string) =>
  db.selectFrom('jobs').selectAll().where('user_id', '=', userId).execute();

describe.each(DIALECTS)('job engine on %s', (dialect) => {
  let t: TestDb;
  let dataDir: string;
  /**
   * A second connection pool to the same database: another process, as far as MariaDB can tell. SQLite
   * runs one process, so there the second runner shares the connection (as a second runner in it would).
   */
  let other: Kysely<Database>;

  beforeAll(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'df-engine-'));
    t = await createTestDb(dialect, { file: path.join(dataDir, 'engine.sqlite') });
    other = dialect === 'mysql' ? connect({ databaseUrl: t.url, dataDir: '' }) : t.db;
  });
  afterAll(async () => {
    if (other !== t.db) await other?.destroy();
    await t?.destroy();
  });

  it('a demo video shows its progress moving while it renders, as the Create page draws it', async () => {
    const inner = testInner(t.db, { clock: systemClock, env: { DATA_DIR: dataDir, DEMO_DELAY_MS: '2000' } });
    const runner = testRunner(inner);
    runner.start();
    try {
      const user = await signUpUser(inner);
      const start = await startGeneration(inner, {
        kind: 'video',
        userId: user.id,
        prompt: 'progress that moves',
        durationSeconds: 2,
      });
      if (start.dryRun) throw new Error('dry run');
      const seen = new Set<number>();
      const done = await until(async () => {
        const row = await t.db
          .selectFrom('jobs')
          .select(['status', 'progress'])
          .where('id', '=', start.job.id)
          .executeTakeFirstOrThrow();
        if (row.status === 'running') seen.add(Number(row.progress));
        return row.status === 'succeeded' ? row : undefined;
      }, 30_000);
      expect(done.status).toBe('succeeded');
      // Between the submit's 5 % and the end, the bar takes at least three steps, not one jump.
      expect([...seen].filter((p) => p > 5 && p < 100).length).toBeGreaterThanOrEqual(3);
    } finally {
      await runner.stop();
    }
  });

  it('a claim that takes every row it read answers those rows as the database now holds them', async () => {
    const inner = testInner(t.db, { clock: systemClock, env: { DATA_DIR: dataDir } });
    const user = await signUpUser(inner);
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const start = await startGeneration(inner, { kind: 'image', userId: user.id, prompt: `claim ${i}` });
      if (!start.dryRun) ids.push(start.job.id);
    }
    const claimed = (
      await claimDueJobs(t.db, {
        owner: 'asclaimed',
        limit: 10,
        leaseMs: 5_000,
        now: Date.now(),
        userMaxActive: 10,
      })
    ).filter((j) => ids.includes(j.id));
    expect(claimed).toHaveLength(3);
    const stored = await t.db.selectFrom('jobs').selectAll().where('id', 'in', ids).execute();
    const byId = (rows: Job[]) => [...rows].sort((a, b) => a.id.localeCompare(b.id));
    expect(byId(claimed)).toEqual(byId(stored));
    // A row changed after it was read (here: handed back with a new due time) is not taken on the old read.
    const [read] = await t.db.selectFrom('jobs').selectAll().where('id', '=', ids[0]!).execute();
    await releaseJob(t.db, { id: ids[0]!, owner: 'asclaimed', until: Number(read!.next_attempt_at) + 7 });
    const again = await claimJobs(t.db, {
      owner: 'other',
      leaseMs: 5_000,
      now: Date.now(),
      jobs: [{ ...read!, lease_until: null }],
    });
    expect(again).toEqual([]);
    // Out of the way of the tests that claim every due job.
    await t.db
      .updateTable('jobs')
      .set({ status: 'canceled', lease_owner: null, lease_until: null })
      .where('id', 'in', ids)
      .execute();
  });

  it('takes queued jobs in turns across users, within each user’s room, fewest running then oldest first', async () => {
    const inner = testInner(t.db, { clock: systemClock, env: { DATA_DIR: dataDir } });
    const [a, b, c] = [await signUpUser(inner), await signUpUser(inner), await signUpUser(inner)];
    const now = Date.now();
    const job = (userId: string, status: 'queued' | 'running', due: number): NewJob =>
      jobRow(userId, {
        next_attempt_at: due,
        created_at: now,
        ...(status === 'running'
          ? {
              status,
              stage: 'generating',
              provider_task_id: 'task',
              lease_owner: 'someone',
              lease_until: now + 60_000,
            }
          : {}),
      });
    // a: four queued and one running (room for two under a cap of three); b: two queued, due after a's
    // oldest; c: one queued but three running (no room); and a job of a's not due yet.
    const aQueued = [40, 30, 20, 10].map((ago) => job(a.id, 'queued', now - ago * 1000));
    const bQueued = [35, 5].map((ago) => job(b.id, 'queued', now - ago * 1000));
    const rows = [
      ...aQueued,
      ...bQueued,
      job(a.id, 'queued', now + 60_000),
      job(a.id, 'running', now + 60_000),
      job(c.id, 'queued', now - 50_000),
      ...[1, 2, 3].map(() => job(c.id, 'running', now + 60_000)),
    ];
    await t.db.insertInto('jobs').values(rows).execute();
    try {
      const submitsOf = async (limit: number) =>
        (await dueCandidates(t.db, { limit, now, userMaxActive: 3 }))
          .filter((candidate) => [a.id, b.id, c.id].includes(candidate.job.user_id))
          .map((candidate) => candidate.job.id);
      // Turn one: b's oldest (b has nothing running), then a's oldest (older, but a has one running); turn
      // two: b's second, a's second. a has room for two.
      expect(await submitsOf(10)).toEqual([bQueued[0]!.id, aQueued[0]!.id, bQueued[1]!.id, aQueued[1]!.id]);
      // A claim smaller than one turn: the user with fewest jobs running, even behind an older queue.
      expect(await submitsOf(1)).toEqual([bQueued[0]!.id]);
      // Among users with as many running, the oldest queue first.
      await t.db.updateTable('jobs').set({ status: 'canceled' }).where('id', '=', rows[7]!.id).execute();
      expect(await submitsOf(1)).toEqual([aQueued[0]!.id]);
    } finally {
      // Out of the way of the tests that claim every due job.
      await t.db
        .updateTable('jobs')
        .set({ status: 'canceled', lease_owner: null, lease_until: null })
        .where('user_id', 'in', [a.id, b.id, c.id])
        .execute();
    }
  });

  it('renews every lease a process holds in one statement, and names the jobs it lost', async () => {
    const inner = testInner(t.db, { clock: systemClock, env: { DATA_DIR: dataDir } });
    const user = await signUpUser(inner);
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const start = await startGeneration(inner, { kind: 'image', userId: user.id, prompt: `lease ${i}` });
      if (!start.dryRun) ids.push(start.job.id);
    }
    const now = Date.now();
    const claimed = await claimDueJobs(t.db, {
      owner: 'lease-owner',
      limit: 10,
      leaseMs: 1_000,
      now,
      userMaxActive: 10,
    });
    expect(claimed.map((j) => j.id).sort()).toEqual([...ids].sort());
    await cancelJob(inner, { userId: user.id, jobId: ids[1]! });
    const lost = await renewLeases(t.db, { owner: 'lease-owner', ids, leaseMs: 60_000, now: now + 500 });
    expect(lost).toEqual([ids[1]]);
    const rows = await t.db.selectFrom('jobs').selectAll().where('id', 'in', ids).execute();
    for (const row of rows) {
      if (row.id === ids[1]) expect(row).toMatchObject({ status: 'canceled', lease_owner: null });
      else expect(Number(row.lease_until)).toBe(now + 500 + 60_000);
    }
    // Not due again while leased: another process claims none of them.
    const other = await claimDueJobs(t.db, {
      owner: 'other',
      limit: 10,
      leaseMs: 1_000,
      now: now + 2_000,
      userMaxActive: 10,
    });
    expect(other.filter((j) => ids.includes(j.id))).toHaveLength(0);
  });

  it('the fleet limiter never hands out the same slot twice, across two connections', async () => {
    const limit = { key: `test:${dialect}:slots`, perSecond: 20 };
    const a = new FleetLimiter(t.db);
    const b = new FleetLimiter(other);
    const slots: number[] = [];
    const deadline = Date.now() + 2_000;
    await Promise.all(
      [a, b, a, b].map(async (limiter) => {
        while (Date.now() < deadline) {
          const r = await limiter.reserve(limit);
          if (r.ok) {
            slots.push(r.at);
            await new Promise((resolve) => setTimeout(resolve, Math.max(0, r.at - Date.now())));
          } else {
            await new Promise((resolve) => setTimeout(resolve, Math.max(1, r.retryAt - Date.now())));
          }
        }
      }),
    );
    slots.sort((x, y) => x - y);
    expect(slots.length).toBeGreaterThan(20);
    const interval = 1000 / (20 * 0.9);
    for (let i = 1; i < slots.length; i++)
      expect(slots[i]! - slots[i - 1]!).toBeGreaterThanOrEqual(interval - 1);
    // Never more than the limit in any second.
    for (let i = 0; i < slots.length; i++) {
      expect(slots.filter((s) => s >= slots[i]! && s < slots[i]! + 1000).length).toBeLessThanOrEqual(20);
    }
  });

  it('a reservation after another process moved the limit costs one statement on MySQL', async () => {
    const limit = { key: `test:${dialect}:moved`, perSecond: 50 };
    const a = new FleetLimiter(t.db);
    const b = new FleetLimiter(other);
    expect((await a.reserve(limit)).ok).toBe(true);
    expect((await b.reserve(limit)).ok).toBe(true);
    const before = a.statements;
    const slot = await a.reserve(limit);
    expect(slot.ok).toBe(true);
    // MySQL: one UPDATE relative to the row, which reports the value it found; SQLite (one process in
    // production): the guess misses, so a read and a guarded write follow.
    expect(a.statements - before).toBe(dialect === 'mysql' ? 1 : 3);
    const row = await t.db
      .selectFrom('provider_limits')
      .select('next_at')
      .where('name', '=', limit.key)
      .executeTakeFirstOrThrow();
    if (slot.ok) expect(Number(row.next_at)).toBeGreaterThanOrEqual(slot.at + 1000 / (50 * 0.85) - 1);
  });

  it('two runners on separate connections stay under the account limits together, one submit per job', async () => {
    const fake = await startDashScopeFake({
      scenario: { latencyMs: 300 },
      limits: { submitsPerSecond: 4, queriesPerSecond: 8 },
    });
    const providers = () =>
      createProviderRegistry({
        dashscope: {
          apiKey: fake.apiKey,
          baseUrl: fake.url,
          pollIntervalMs: 100,
          retryRateLimited: false,
          submitsPerSecond: 4,
          queriesPerSecond: 8,
          throttleDelayMs: 200,
        },
      });
    const env = { DATA_DIR: dataDir, DASHSCOPE_API_KEY: fake.apiKey };
    const innerA = testInner(t.db, { clock: systemClock, env, providers: providers() });
    const innerB = testInner(other, { clock: systemClock, env, providers: providers() });
    const runners = [testRunner(innerA), testRunner(innerB)];
    try {
      const user = await signUpUser(innerA);
      for (let i = 0; i < 12; i++) {
        await startGeneration(innerA, {
          kind: 'image',
          userId: user.id,
          prompt: `limit ${i}`,
          model: 'wan-t2i-flash',
        });
      }
      for (const r of runners) r.start();
      await until(
        async () => (await jobsOf(t.db, user.id)).every((j) => j.status === 'succeeded'),
        60_000,
        100,
      );
      expect(fake.submissions).toBe(12);
      // Uncoordinated, two runners would send at twice the account's rate and half would be refused; the
      // shared limiter keeps them under it (a request that leaves late may still meet the odd 429).
      expect(fake.limited.submits + fake.limited.queries).toBeLessThanOrEqual(2);
      const times = fake.submitTimes;
      expect((times.at(-1)! - times[0]!) / (times.length - 1)).toBeGreaterThanOrEqual(1000 / 4 - 10);
      // Both processes did some of the work.
      for (const r of runners) expect(r.stepsRun).toBeGreaterThan(0);
    } finally {
      await Promise.all(runners.map((r) => r.stop()));
      await fake.close();
    }
  });

  it('a submit whose answer is lost is not sent again: one task, the job fails and is refunded once', async () => {
    const fake = await startDashScopeFake({ scenario: { states: ['RUNNING'] } });
    const inner = testInner(t.db, {
      clock: systemClock,
      env: { DATA_DIR: dataDir, DASHSCOPE_API_KEY: fake.apiKey },
      providers: createProviderRegistry({
        dashscope: { apiKey: fake.apiKey, baseUrl: fake.url, pollIntervalMs: 20 },
      }),
    });
    const runner = testRunner(inner);
    try {
      const user = await signUpUser(inner);
      // The provider makes the task, then the connection breaks before its answer reaches us.
      fake.loseAnswerNext(1);
      await startGeneration(inner, {
        kind: 'image',
        userId: user.id,
        prompt: 'an answer lost on the way',
        model: 'wan-t2i-flash',
      });
      runner.start();
      const done = await until(async () => {
        const [job] = await jobsOf(t.db, user.id);
        return job && job.status !== 'queued' && job.status !== 'running' ? job : undefined;
      }, 30_000);
      await new Promise((r) => setTimeout(r, 500));
      expect(fake.submissions).toBe(1);
      expect(done.status).toBe('failed');
      expect(done.error_code).toBe('PROVIDER_FAILED');
      expect((await ledgerOf(t.db, user.id)).filter((r) => r.kind === 'refund')).toHaveLength(1);
      expect(await balanceOf(t.db, user.id)).toBe(100);
    } finally {
      await runner.stop();
      await fake.close();
    }
  });

  it('a 429 is never a failure: the job waits and then succeeds, charged once and not refunded', async () => {
    const fake = await startDashScopeFake({ scenario: { states: ['RUNNING'] } });
    const inner = testInner(t.db, {
      clock: systemClock,
      env: { DATA_DIR: dataDir, DASHSCOPE_API_KEY: fake.apiKey },
      providers: createProviderRegistry({
        dashscope: {
          apiKey: fake.apiKey,
          baseUrl: fake.url,
          pollIntervalMs: 20,
          retryRateLimited: false,
          throttleDelayMs: 100,
        },
      }),
    });
    const runner = testRunner(inner);
    try {
      const user = await signUpUser(inner);
      fake.throttleNext(5);
      const start = await startGeneration(inner, {
        kind: 'image',
        userId: user.id,
        prompt: 'slow down',
        model: 'wan-t2i-flash',
      });
      if (start.dryRun) throw new Error('dry run');
      runner.start();
      const done = await until(async () => {
        const [job] = await jobsOf(t.db, user.id);
        return job && job.status !== 'queued' && job.status !== 'running' ? job : undefined;
      }, 30_000);
      expect(done.status).toBe('succeeded');
      expect(fake.submissions).toBe(1);
      const ledger = await ledgerOf(t.db, user.id);
      expect(ledger.filter((r) => r.kind === 'charge')).toHaveLength(1);
      expect(ledger.filter((r) => r.kind === 'refund')).toHaveLength(0);
    } finally {
      await runner.stop();
      await fake.close();
    }
  });

  it('an unreachable provider: the job waits, then fails past its maximum age, refunded once', async () => {
    const inner = testInner(t.db, {
      clock: systemClock,
      env: { DATA_DIR: dataDir, DASHSCOPE_API_KEY: 'k' },
      providers: createProviderRegistry({
        dashscope: { apiKey: 'k', baseUrl: 'http://127.0.0.1:9', requestTimeoutMs: 500, maxRetries: 0 },
      }),
    });
    const runner = testRunner(inner, { maxJobAgeMs: 1_500 });
    try {
      const user = await signUpUser(inner);
      await startGeneration(inner, {
        kind: 'image',
        userId: user.id,
        prompt: 'nobody home',
        model: 'wan-t2i-flash',
      });
      runner.start();
      // It waits rather than failing at the first refusal...
      await new Promise((r) => setTimeout(r, 700));
      expect((await jobsOf(t.db, user.id))[0]?.status).not.toBe('failed');
      // ...and gives up (refunded) once it is too old.
      const failed = await until(async () => {
        const [job] = await jobsOf(t.db, user.id);
        return job?.status === 'failed' ? job : undefined;
      }, 15_000);
      expect(failed.error_code).toBe('PROVIDER_TIMEOUT');
      expect((await ledgerOf(t.db, user.id)).filter((r) => r.kind === 'refund')).toHaveLength(1);
      expect(await balanceOf(t.db, user.id)).toBe(100);
    } finally {
      await runner.stop();
    }
  });

  it('claims another user’s job while long steps fill every place and the line behind them, and gives it the next free place', async () => {
    const inner = testInner(t.db, { clock: systemClock, env: { DATA_DIR: dataDir } });
    const heavy = await signUpUser(inner);
    const light = await signUpUser(inner);
    // Submits that hold their place until the test opens the gate (as a demo video's render holds it), and
    // record whose job started, in order.
    let open = () => {};
    const gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    const starts: string[] = [];
    const holdingSubmit: Step<unknown> = async (input) => {
      starts.push(input.job.user_id);
      await gate;
      return STEPS.submit(input);
    };
    const row = queuedImages(Date.now());
    await t.db
      .insertInto('jobs')
      .values(Array.from({ length: 10 }, (_, i) => row(heavy.id, i)))
      .execute();
    const runner = testRunner(inner, {
      concurrency: 2,
      userMaxActiveJobs: 10,
      steps: { submit: holdingSubmit },
    });
    runner.start();
    try {
      // Two places working and jobs in line behind them: a claim with no free place.
      await until(async () => starts.length >= 2);
      const lightJob = { ...row(light.id, 0), next_attempt_at: Date.now() };
      await t.db.insertInto('jobs').values(lightJob).execute();
      // Claimed while every place is taken. (Without room for one more, it would wait for the line to empty.)
      await until(async () => {
        const job = await t.db
          .selectFrom('jobs')
          .select('status')
          .where('id', '=', lightJob.id)
          .executeTakeFirst();
        return job?.status === 'running';
      }, 10_000);
      // The claim's UPDATE is seen a moment before the runner puts the job in line.
      await new Promise((resolve) => setTimeout(resolve, 100));
      const before = starts.length;
      open();
      await until(async () => starts.includes(light.id), 10_000);
      // First in line when places free: the first step to start after the gate opened is the light one's
      // (in the order steps started, not by clock: two can start in one millisecond).
      expect(starts[before]).toBe(light.id);
    } finally {
      open();
      await runner.stop();
      await cancelAll(t.db, [heavy.id, light.id]);
    }
  });

  it('fairness: one user queues 10,000 jobs, another user’s job starts within seconds', async () => {
    const inner = testInner(t.db, {
      clock: systemClock,
      env: { DATA_DIR: dataDir },
      providers: createProviderRegistry({ demo: { enabled: true, delayMs: 5_000 } }),
    });
    const heavy = await signUpUser(inner);
    const light = await signUpUser(inner);
    const row = queuedImages(Date.now());
    for (let i = 0; i < 10_000; i += 1_000) {
      await t.db
        .insertInto('jobs')
        .values(Array.from({ length: 1_000 }, (_, k) => row(heavy.id, i + k)))
        .execute();
    }
    const runner: JobRunner = testRunner(inner, { userMaxActiveJobs: 10 });
    runner.start();
    try {
      // Let the heavy user fill their share first, then the light user asks for one image.
      await until(async () => {
        const running = await t.db
          .selectFrom('jobs')
          .select('id')
          .where('user_id', '=', heavy.id)
          .where('status', '=', 'running')
          .execute();
        return running.length >= 10;
      }, 20_000);
      const lightJob = row(light.id, 0);
      await t.db
        .insertInto('jobs')
        .values({ ...lightJob, next_attempt_at: Date.now() })
        .execute();
      const asked = Date.now();
      await until(async () => {
        const job = await t.db
          .selectFrom('jobs')
          .selectAll()
          .where('id', '=', lightJob.id)
          .executeTakeFirst();
        return job?.provider_task_id ? job : undefined;
      }, 10_000);
      expect(Date.now() - asked).toBeLessThan(3_000);
      const running = await t.db
        .selectFrom('jobs')
        .select('id')
        .where('user_id', '=', heavy.id)
        .where('status', '=', 'running')
        .execute();
      expect(running.length).toBeLessThanOrEqual(10);
      // The rest wait their turn, not refused.
      const failed = await t.db
        .selectFrom('jobs')
        .select('id')
        .where('user_id', 'in', [heavy.id, light.id])
        .where('status', '=', 'failed')
        .execute();
      expect(failed).toHaveLength(0);
    } finally {
      await runner.stop();
    }
  });
});
