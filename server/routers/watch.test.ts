import fs from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { EventSource } from 'eventsource';
import superjson from 'superjson';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient } from '../../shared/api-client.ts';
import { appCodeOf, callerFor, testInner } from '../../test/context.ts';
import { createTestDb, DIALECTS, type TestDb } from '../../test/db.ts';
import { signUpUser } from '../../test/pipeline.ts';
import { startServerProcess } from '../../test/server-process.ts';
import { createApp } from '../app.ts';
import type { InnerContext } from '../context.ts';
import { createHttpServer } from '../http/server.ts';
import { systemClock } from '../services/clock.ts';
import { startGeneration } from '../services/generation.ts';
import { JobFeed } from '../services/jobs/feed.ts';
import { updateJob } from '../services/jobs/store.ts';

/** The app on a loopback port; `short` sets the server timeouts short to prove they do not cut a stream. */
async function listen(inner: InnerContext, short = false) {
  const server: Server = createHttpServer(
    createApp(inner),
    short ? { headersTimeout: 800, requestTimeout: 1_000, connectionsCheckingInterval: 100 } : undefined,
  ).listen(0, '127.0.0.1');
  await new Promise<void>((resolve) => server.once('listening', resolve));
  if (short) server.keepAliveTimeout = 200;
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

interface SseEvent {
  event: string;
  id?: string;
  data: string;
}

/** Opens jobs.watch over SSE (as httpSubscriptionLink does) and reads events as they come. */
function openWatch(url: string, token: string, input: Record<string, unknown>) {
  const controller = new AbortController();
  const events: SseEvent[] = [];
  let wake: (() => void) | null = null;
  const query = encodeURIComponent(JSON.stringify(superjson.serialize(input)));
  const done = fetch(`${url}/trpc/jobs.watch?input=${query}`, {
    headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' },
    signal: controller.signal,
  })
    .then(async (res) => {
      const decoder = new TextDecoder();
      let buffer = '';
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        buffer += decoder.decode(chunk, { stream: true });
        let end = buffer.indexOf('\n\n');
        while (end >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const event: SseEvent = { event: 'message', data: '' };
          for (const line of block.split('\n')) {
            if (line.startsWith('event:')) event.event = line.slice(6).trim();
            else if (line.startsWith('id:')) event.id = line.slice(3).trim();
            else if (line.startsWith('data:')) event.data += line.slice(5).trim();
          }
          if (block.split('\n').some((l) => !l.startsWith(':'))) events.push(event);
          wake?.();
          end = buffer.indexOf('\n\n');
        }
      }
    })
    .catch((error) => {
      if (!controller.signal.aborted) events.push({ event: 'fetch-failed', data: String(error) });
    });
  const waitFor = async (test: (e: SseEvent[]) => boolean, timeoutMs = 10_000) => {
    const deadline = Date.now() + timeoutMs;
    while (!test(events)) {
      if (Date.now() > deadline) throw new Error(`timed out; events: ${JSON.stringify(events)}`);
      await new Promise<void>((resolve) => {
        wake = resolve;
        setTimeout(resolve, 50);
      });
    }
  };
  return { events, waitFor, close: () => controller.abort(), done };
}

const firstMeaningful = (events: SseEvent[]) =>
  events.find(
    (e) => e.event === 'serialized-error' || e.event === 'fetch-failed' || (e.event === 'message' && e.id),
  );

describe.each(DIALECTS)('jobs.watch and the change feed on %s', (dialect) => {
  let t: TestDb;
  let inner: InnerContext;

  let dataDir: string;

  beforeAll(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'df-watch-'));
    t = await createTestDb(dialect, { file: path.join(dataDir, 'watch.sqlite') });
    inner = testInner(t.db, {
      clock: systemClock,
      env: { DEMO_DELAY_MS: '600000', MAX_WATCHES_PER_USER: '32', MAX_WATCHES_PER_IP: '256' },
    });
  });
  afterAll(async () => {
    await t?.destroy();
  });

  async function runningVideo() {
    const user = await signUpUser(inner);
    const start = await startGeneration(inner, {
      kind: 'video',
      userId: user.id,
      prompt: 'waves',
      durationSeconds: 2,
    });
    if (start.dryRun) throw new Error('dry run');
    const { token } = await callerFor(inner, user).apiTokens.create({ name: 'watch' });
    return { user, job: start.job, token };
  }

  it('one feed query per tick wakes every waiter, whatever their number', async () => {
    const feed = new JobFeed(t.db, 100);
    // One after another: sign-up hashes wait in a bounded line (2 at once, 32 waiting), BUSY beyond.
    const jobs: Awaited<ReturnType<typeof runningVideo>>[] = [];
    for (let i = 0; i < 40; i++) jobs.push(await runningVideo());
    const waits = jobs.map(({ job }) => feed.next(job.id, job.status_sequence, { timeoutMs: 10_000 }));
    await new Promise((r) => setTimeout(r, 350));
    const idle = feed.queries;
    expect(idle).toBeGreaterThan(0);
    expect(idle).toBeLessThanOrEqual(5); // ticks, not 40 waiters × ticks
    for (const { job } of jobs) await updateJob(t.db, job.id, { stage: 'generating', progress: 40 });
    const rows = await Promise.all(waits);
    for (const [i, row] of rows.entries()) {
      expect(row?.id).toBe(jobs[i]!.job.id);
      expect(row?.progress).toBe(40);
    }
    expect(feed.queries - idle).toBeLessThanOrEqual(3);
    expect(feed.size).toBe(0);
  });

  it('streams snapshots, survives short server timeouts, and resumes from lastEventId', async () => {
    const server = await listen(inner, true);
    try {
      const { job, token } = await runningVideo();
      const watch = openWatch(server.url, token, { id: job.id });
      await watch.waitFor((e) => e.some((x) => x.id === String(job.status_sequence)));
      // Longer than requestTimeout, headersTimeout and keepAliveTimeout: the stream stays open.
      await new Promise((r) => setTimeout(r, 2_000));
      await updateJob(t.db, job.id, { stage: 'generating', progress: 50 });
      await watch.waitFor((e) => e.some((x) => x.id === String(job.status_sequence + 1)));
      watch.close();
      // A reconnect with the last id seen gets only what came after it.
      const resumed = openWatch(server.url, token, {
        id: job.id,
        lastEventId: String(job.status_sequence + 1),
      });
      await new Promise((r) => setTimeout(r, 500));
      expect(resumed.events.filter((e) => e.id)).toHaveLength(0);
      await updateJob(t.db, job.id, { status: 'canceled', stage: 'done', finished_at: Date.now() });
      await resumed.waitFor((e) => e.some((x) => x.id === String(job.status_sequence + 2)));
      const last = resumed.events.filter((e) => e.id).at(-1)!;
      expect(superjson.deserialize<{ status: string }>(JSON.parse(last.data)).status).toBe('canceled');
      expect(resumed.events.filter((e) => e.id)).toHaveLength(1);
      resumed.close();
    } finally {
      await server.close();
    }
  });

  it('a bad lastEventId is a clear VALIDATION error', async () => {
    const { user, job } = await runningVideo();
    for (const lastEventId of ['abc', '-1', String(job.status_sequence + 5)]) {
      const caller = callerFor(inner, user);
      const error = await (async () => {
        try {
          const stream = await caller.jobs.watch({ id: job.id, lastEventId });
          for await (const _ of stream) break;
        } catch (e) {
          return e as Error;
        }
        return null;
      })();
      const code = (await appCodeOf(Promise.reject(error))) ?? (error as { code?: string } | null)?.code;
      expect(code).toBe('VALIDATION');
      expect(error?.message).toMatch(/lastEventId/);
    }
  });

  it('refusals carry their own tRPC code, so the typed client reports them once instead of reconnecting', async () => {
    const server = await listen(inner);
    try {
      const owner = await runningVideo();
      const stranger = await runningVideo();
      // Another user's job over SSE: NOT_FOUND (404), never INTERNAL_SERVER_ERROR.
      const raw = openWatch(server.url, stranger.token, { id: owner.job.id });
      await raw.waitFor((e) => firstMeaningful(e) !== undefined);
      const refusal = firstMeaningful(raw.events)!;
      raw.close();
      expect(refusal.event).toBe('serialized-error');
      const shape = superjson.deserialize<{ data: Record<string, unknown> }>(JSON.parse(refusal.data));
      expect(shape.data).toMatchObject({ code: 'NOT_FOUND', httpStatus: 404, appCode: 'NOT_FOUND' });
      // tRPC's httpSubscriptionLink retries INTERNAL_SERVER_ERROR for ever; a NOT_FOUND reaches onError once.
      const client = createClient({ url: server.url, token: stranger.token, EventSource });
      const states: string[] = [];
      const error = await new Promise<unknown>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no error; states: ${states.join(',')}`)), 8_000);
        const sub = client.jobs.watch.subscribe(
          { id: owner.job.id },
          {
            onConnectionStateChange: (state) => states.push(state.state),
            onData: () => reject(new Error('a stranger saw the job')),
            onError: (e) => {
              clearTimeout(timer);
              sub.unsubscribe();
              resolve(e);
            },
          },
        );
      });
      expect(await appCodeOf(Promise.reject(error))).toBe('NOT_FOUND');
      expect(states.filter((s) => s === 'connecting').length).toBeLessThanOrEqual(1);
      // A lastEventId ahead of the job: BAD_REQUEST / VALIDATION.
      const ahead = openWatch(server.url, owner.token, {
        id: owner.job.id,
        lastEventId: String(owner.job.status_sequence + 5),
      });
      await ahead.waitFor((e) => firstMeaningful(e) !== undefined);
      ahead.close();
      const aheadShape = superjson.deserialize<{ data: Record<string, unknown> }>(
        JSON.parse(firstMeaningful(ahead.events)!.data),
      );
      expect(aheadShape.data).toMatchObject({ code: 'BAD_REQUEST', appCode: 'VALIDATION' });
      // Refused watches hold no slot: the owner can still open all 32.
      expect(inner.events.watches.openFor(owner.user.id)).toBe(0);
      expect(inner.events.watches.openFor(stranger.user.id)).toBe(0);
    } finally {
      await server.close();
    }
  });

  it('gives the slot back when the client went away before the watch started', async () => {
    const owner = await runningVideo();
    const gone = AbortSignal.abort();
    for (let i = 0; i < 40; i++) {
      await callerFor(inner, owner.user, {}, { signal: gone })
        .jobs.watch({ id: owner.job.id })
        .then(
          (stream) => (stream as AsyncIterable<unknown>)[Symbol.asyncIterator]().return?.(),
          () => {},
        );
    }
    expect(inner.events.watches.openFor(owner.user.id)).toBe(0);
  });

  it('caps open watches per user: over the cap a clear RATE_LIMITED, and 2,000 attempts leave /healthz quick', async () => {
    // The server in its own process, as in production, so the attacking clients here do not share its loop.
    const server = await startServerProcess({
      DATABASE_URL: t.url,
      DATA_DIR: dataDir,
      ROLE: 'api',
      APP_SECRET: 'watch-secret-watch-secret-watch-secret',
      DEMO_DELAY_MS: '600000',
      MAX_WATCHES_PER_USER: '32',
      MIGRATE_ON_START: 'false',
    });
    const open: ReturnType<typeof openWatch>[] = [];
    try {
      const { job, token } = await runningVideo();
      let refused = 0;
      let accepted = 0;
      const healthTimes: number[] = [];
      let checking = true;
      const health = (async () => {
        while (checking) {
          const t0 = Date.now();
          const res = await fetch(`${server.url}/healthz`);
          expect(res.status).toBe(200);
          healthTimes.push(Date.now() - t0);
          await new Promise((r) => setTimeout(r, 50));
        }
      })();
      // 25 in flight at a time (a client hammering the API; 2,000 opened at once would measure the
      // test machine's TCP accept queue, not the server).
      for (let batch = 0; batch < 2_000; batch += 25) {
        const watches = Array.from({ length: 25 }, () => openWatch(server.url, token, { id: job.id }));
        await Promise.all(watches.map((w) => w.waitFor((e) => firstMeaningful(e) !== undefined, 30_000)));
        for (const w of watches) {
          const first = firstMeaningful(w.events)!;
          if (first.event === 'serialized-error') {
            refused++;
            expect(first.data).toContain('RATE_LIMITED');
            expect(first.data).toContain('Too many open job watches');
            // TOO_MANY_REQUESTS, which the typed client does not retry (INTERNAL_SERVER_ERROR it would).
            expect(first.data).toContain('"TOO_MANY_REQUESTS"');
            expect(first.data).not.toContain('INTERNAL_SERVER_ERROR');
            w.close();
          } else {
            expect(first.event).toBe('message');
            accepted++;
            open.push(w);
          }
        }
      }
      checking = false;
      await health;
      expect(accepted).toBe(32);
      expect(refused).toBe(2_000 - 32);
      expect(healthTimes.length).toBeGreaterThan(5);
      expect(Math.max(...healthTimes)).toBeLessThan(1_000);
      // Closing streams gives the slots back: a new watch is accepted again.
      for (const w of open.splice(0)) w.close();
      await new Promise((r) => setTimeout(r, 500));
      const again = openWatch(server.url, token, { id: job.id });
      open.push(again);
      await again.waitFor((e) => firstMeaningful(e) !== undefined);
      expect(firstMeaningful(again.events)!.event).toBe('message');
    } finally {
      for (const w of open) w.close();
      await server.stop();
    }
  }, 180_000);

  it('caps open watches per IP across accounts', async () => {
    const perIp = testInner(t.db, {
      clock: systemClock,
      env: { DEMO_DELAY_MS: '600000', MAX_WATCHES_PER_USER: '32', MAX_WATCHES_PER_IP: '3' },
    });
    const server = await listen(perIp);
    const streams: ReturnType<typeof openWatch>[] = [];
    try {
      for (let i = 0; i < 4; i++) {
        const { job, token } = await runningVideo();
        const w = openWatch(server.url, token, { id: job.id });
        streams.push(w);
        await w.waitFor((e) => firstMeaningful(e) !== undefined);
      }
      const kinds = streams.map((w) => firstMeaningful(w.events)!.event);
      expect(kinds).toEqual(['message', 'message', 'message', 'serialized-error']);
      expect(firstMeaningful(streams[3]!.events)!.data).toContain('from this address');
    } finally {
      for (const w of streams) w.close();
      await server.close();
    }
  });
});
