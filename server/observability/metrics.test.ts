import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from '../../db/connect.ts';
import { callerFor, testInner } from '../../test/context.ts';
import { createTestDb } from '../../test/db.ts';
import { startTestServer } from '../../test/http.ts';
import { signUpUser } from '../../test/pipeline.ts';
import { sendJson } from '../providers/http.ts';
import { observeQueue } from './http.ts';
import { registry } from './metrics.ts';

/** The value of one series in the registry's text output (0 when absent). */
async function value(name: string, labels: Record<string, string>): Promise<number> {
  const text = await registry.metrics();
  const line = text
    .split('\n')
    .find(
      (l) => l.startsWith(`${name}{`) && Object.entries(labels).every(([k, v]) => l.includes(`${k}="${v}"`)),
    );
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
}

describe('provider HTTP metrics', () => {
  let server: http.Server;
  let url: string;
  beforeAll(async () => {
    server = http.createServer((req, res) => {
      const status = req.url === '/limited' ? 429 : req.url === '/broken' ? 500 : 200;
      res.writeHead(status, { 'content-type': 'application/json' }).end('{"ok":true}');
    });
    server.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('counts latency for every call, errors by code and 429s', async () => {
    const provider = `metrics-test-${process.pid}`;
    await sendJson({ method: 'GET', url: `${url}/ok`, timeoutMs: 5000, provider });
    await sendJson({ method: 'POST', url: `${url}/limited`, body: {}, timeoutMs: 5000, provider });
    await sendJson({ method: 'GET', url: `${url}/broken`, timeoutMs: 5000, provider });
    await expect(
      sendJson({ method: 'GET', url: 'http://127.0.0.1:1/refused', timeoutMs: 5000, provider }),
    ).rejects.toThrow();

    expect(
      await value('df_provider_request_duration_seconds_count', { provider, method: 'GET', outcome: '200' }),
    ).toBe(1);
    expect(await value('df_provider_rate_limited_total', { provider })).toBe(1);
    expect(await value('df_provider_errors_total', { provider, code: '429' })).toBe(1);
    expect(await value('df_provider_errors_total', { provider, code: '500' })).toBe(1);
    expect(await value('df_provider_errors_total', { provider, code: 'network' })).toBe(1);
    expect(await value('df_provider_errors_total', { provider, code: '200' })).toBe(0);
  });
});

describe('SSE streams gauge', () => {
  it('counts a jobs.watch stream while it is open', async () => {
    const t = await createTestDb('sqlite');
    try {
      const inner = testInner(t.db);
      const user = await signUpUser(inner);
      const api = callerFor(inner, user);
      // No runner in this test: the job stays queued, so the stream stays open until we leave it.
      const { job } = await api.ai.generateVideo({ prompt: 'waves', durationSeconds: 4 });
      const open = async () => Number(/^df_sse_streams_open (\S+)$/m.exec(await registry.metrics())?.[1]);
      const before = await open();
      const stream = await api.jobs.watch({ id: job.id });
      const iterator = (stream as AsyncIterable<unknown>)[Symbol.asyncIterator]();
      await iterator.next();
      expect(await open()).toBe(before + 1);
      await iterator.return?.();
      expect(await open()).toBe(before);

      // The queued job shows in the queue gauges, read from the database at scrape time.
      await observeQueue(t.db, Date.now() + 5000);
      const text = await registry.metrics();
      expect(text).toMatch(/^df_queue_depth 1$/m);
      expect(Number(/^df_queue_oldest_age_seconds (\S+)$/m.exec(text)?.[1])).toBeGreaterThanOrEqual(5);
      expect(text).toMatch(/^df_jobs\{status="queued",model="[^"]+"\} 1$/m);
    } finally {
      await t.destroy();
    }
  });
});

describe('HTTP metrics labels', () => {
  it('labels only procedures the router has: made-up paths and batches add no series', async () => {
    const t = await createTestDb('sqlite');
    const server = await startTestServer(testInner(t.db));
    try {
      const series = async () =>
        (await registry.metrics())
          .split('\n')
          .filter((l) => l.startsWith('df_http_request_duration_seconds_count')).length;
      await fetch(`${server.url}/trpc/auth.me`);
      await fetch(`${server.url}/trpc/nope-0.x`);
      await fetch(`${server.url}/trpc/auth.me,evil-0?batch=1&input=%7B%7D`);
      await fetch(`${server.url}/trpc/auth.me,ai.models?batch=1&input=%7B%7D`);
      const before = await series();
      for (let i = 1; i <= 50; i++) {
        await fetch(`${server.url}/trpc/nope-${i}.x`);
        await fetch(`${server.url}/trpc/auth.me,evil-${i}?batch=1&input=%7B%7D`);
      }
      expect(await series()).toBe(before);
      const text = await registry.metrics();
      expect(text).not.toContain('nope-');
      expect(text).not.toContain('evil-');
      expect(text).not.toContain('auth.me,');
      expect(text).toContain('procedure="auth.me"');
      expect(text).toContain('procedure="unknown"');
      expect(text).toContain('procedure="batch"');
    } finally {
      await server.close();
      await t.destroy();
    }
  });
});

describe('GET /metrics under a flood of scrapes', () => {
  it('reads the queue gauges from the database at most once a second, however many scrape', async () => {
    const t = await createTestDb('sqlite');
    let selects = 0;
    const counted = t.db.withPlugin({
      transformQuery: (args) => {
        if (args.node.kind === 'SelectQueryNode') selects += 1;
        return args.node;
      },
      transformResult: async (args) => args.result,
    });
    const server = await startTestServer(testInner(counted));
    try {
      const scrapes = await Promise.all(
        Array.from({ length: 50 }, () => fetch(`${server.url}/metrics`).then((r) => r.text())),
      );
      expect(scrapes.every((text) => /^df_queue_depth 0$/m.test(text))).toBe(true);
      expect(selects).toBe(1);
      await new Promise((r) => setTimeout(r, 1_100));
      await fetch(`${server.url}/metrics`);
      expect(selects).toBe(2);
    } finally {
      await server.close();
      await t.destroy();
    }
  });
});

describe('GET /metrics and /healthz while the database does not answer', () => {
  it('answer within a few seconds (503 down; metrics with df_database_up 0), one hung check at a time, and recover', async () => {
    // A MySQL address that takes connections and never says a word, as a database behind a network
    // partition does; the real driver waits for its greeting (connectTimeout 10 s).
    const silent = new Set<net.Socket>();
    const blackhole = net.createServer((socket) => {
      silent.add(socket);
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => blackhole.listen(0, '127.0.0.1', resolve));
    const port = (blackhole.address() as AddressInfo).port;
    const db = connect({ databaseUrl: `mysql://df:pw@127.0.0.1:${port}/df`, dataDir: '' });
    const server = await startTestServer(testInner(db));
    try {
      const started = Date.now();
      const [health, again, metrics] = await Promise.all([
        fetch(`${server.url}/healthz`),
        fetch(`${server.url}/healthz`),
        fetch(`${server.url}/metrics`),
      ]);
      expect(Date.now() - started).toBeLessThan(5_000);
      expect(health.status).toBe(503);
      expect(await health.json()).toEqual({ ok: false, db: 'down' });
      expect(again.status).toBe(503);
      expect(metrics.status).toBe(200);
      expect(await metrics.text()).toMatch(/^df_database_up 0$/m);
      // Probes and scrapes share the checks in flight: one for /healthz, one for the queue gauges.
      expect(silent.size).toBeLessThanOrEqual(2);
      const later = await fetch(`${server.url}/metrics`);
      expect(await later.text()).toMatch(/^df_database_up 0$/m);
      expect(silent.size).toBeLessThanOrEqual(2);
    } finally {
      await server.close();
      for (const socket of silent) socket.destroy();
      blackhole.close();
      await db.destroy().catch(() => undefined);
    }
    // The database answers again: up, and the gauge says so.
    const t = await createTestDb('sqlite');
    const healthy = await startTestServer(testInner(t.db));
    try {
      expect((await fetch(`${healthy.url}/healthz`)).status).toBe(200);
      expect(await (await fetch(`${healthy.url}/metrics`)).text()).toMatch(/^df_database_up 1$/m);
    } finally {
      await healthy.close();
      await t.destroy();
    }
  }, 20_000);
});
