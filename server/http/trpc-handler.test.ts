import http from 'node:http';
import type { AddressInfo } from 'node:net';
import net from 'node:net';
import express from 'express';
import superjson from 'superjson';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_BATCH_SIZE } from '../../shared/limits.ts';
import { testInner } from '../../test/context.ts';
import { createTestDb, type TestDb } from '../../test/db.ts';
import { httpClient, startTestServer } from '../../test/http.ts';
import { createRequestContext, type InnerContext } from '../context.ts';
import { requestLogging } from '../observability/http.ts';
import { appRouter } from '../routers/index.ts';
import { trpcHandler } from './trpc-handler.ts';

/** One raw HTTP exchange, so the framing (Content-Length or chunked) can be seen. */
function exchange(
  url: string,
  init: { method?: string; body?: string; headers?: Record<string, string>; path?: string } = {},
) {
  return new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }>(
    (resolve, reject) => {
      // `path` is sent as it is (a fragment included), where a URL would lose what follows a `#`.
      const options = {
        method: init.method ?? 'GET',
        headers: init.headers,
        ...(init.path ? { path: init.path } : {}),
      };
      const req = http.request(url, options, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          body += chunk;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      });
      req.on('error', reject);
      req.end(init.body);
    },
  );
}

describe('the tRPC handler', () => {
  let t: TestDb;
  let server: Awaited<ReturnType<typeof startTestServer>>;

  beforeAll(async () => {
    t = await createTestDb('sqlite');
    server = await startTestServer(testInner(t.db));
  });
  afterAll(async () => {
    await server?.close();
    await t?.destroy();
  });

  it('sends a whole answer with its Content-Length, not chunked', async () => {
    const res = await exchange(`${server.url}/trpc/ai.models`);
    expect(res.status).toBe(200);
    expect(res.headers['transfer-encoding']).toBeUndefined();
    expect(Number(res.headers['content-length'])).toBe(Buffer.byteLength(res.body));
    const models = superjson.deserialize<{ id: string }[]>(JSON.parse(res.body).result.data);
    expect(models.map((m) => m.id)).toContain('demo-image');
  });

  it('answers a batch in one body, and errors with their status and appCode', async () => {
    const input = encodeURIComponent(JSON.stringify({ 0: { json: null }, 1: { json: null } }));
    const batch = await exchange(`${server.url}/trpc/ai.models,auth.me?batch=1&input=${input}`);
    expect(batch.status).toBe(200);
    expect(Number(batch.headers['content-length'])).toBe(Buffer.byteLength(batch.body));
    const [models, me] = JSON.parse(batch.body);
    expect(models.result.data.json.length).toBeGreaterThan(0);
    expect(me.result.data.json).toBeNull();

    const bad = await exchange(`${server.url}/trpc/auth.signIn`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ json: { email: 'not an email' } }),
    });
    expect(bad.status).toBe(400);
    expect(Number(bad.headers['content-length'])).toBe(Buffer.byteLength(bad.body));
    expect(JSON.parse(bad.body).error.json.data.appCode).toBe('VALIDATION');
    expect(bad.body).not.toMatch(/at .*\.ts:\d+/); // no stack trace

    const missing = await exchange(`${server.url}/trpc/no.such.procedure`);
    expect(missing.status).toBe(404);

    // A procedure is the one segment after /trpc/: a longer path runs nothing (tRPC's adapter would run
    // its last segment, past a proxy rule on the path), on both the single-call and the batch path.
    for (const path of [
      '/trpc/public/ai.models',
      '/trpc/ai.models/auth.me',
      '/trpc/x/ai.models,auth.me?batch=1',
    ]) {
      const deeper = await exchange(`${server.url}${path}`);
      expect(deeper.status, path).toBe(404);
      expect(JSON.parse(deeper.body).error.json.data.appCode, path).toBe('NOT_FOUND');
    }
    const signUp = await exchange(`${server.url}/trpc/anything/auth.signUp`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ json: { email: 'deeper@example.com', password: 'sturdy-pass-1' } }),
    });
    expect(signUp.status).toBe(404);
    expect(
      await t.db.selectFrom('users').select('id').where('email', '=', 'deeper@example.com').execute(),
    ).toEqual([]);

    // Refused before tRPC reads the calls, with no content type of its own: still JSON, still whole.
    const tooMany = Array.from({ length: MAX_BATCH_SIZE + 1 }, () => 'ai.models').join(',');
    const refused = await exchange(`${server.url}/trpc/${tooMany}?batch=1&input=%7B%7D`);
    expect(refused.status).toBe(400);
    expect(refused.headers['content-type']).toBe('application/json');
    expect(Number(refused.headers['content-length'])).toBe(Buffer.byteLength(refused.body));
    expect(JSON.parse(refused.body).error.json.data.reason).toBe('BATCH_TOO_LARGE');
  });

  it('answers what Node refuses before any handler (a query past the header limit, bytes that are not HTTP) with a JSON VALIDATION error', async () => {
    const input = encodeURIComponent(JSON.stringify({ json: { q: 'x'.repeat(30_000) } }));
    const long = await exchange(`${server.url}/trpc/outputs.list?input=${input}`);
    expect(long.status).toBe(431);
    expect(long.headers['content-type']).toBe('application/json');
    expect(JSON.parse(long.body).error.json.data).toMatchObject({ appCode: 'VALIDATION', httpStatus: 431 });
    // A typed client reads it as any other error.
    const error = await httpClient(server.url)
      .outputs.list.query({ q: 'y'.repeat(30_000) })
      .catch((e: unknown) => e);
    expect((error as { data?: { appCode?: string } }).data?.appCode).toBe('VALIDATION');

    const raw = await new Promise<string>((resolve, reject) => {
      const socket = net.connect(Number(new URL(server.url).port), '127.0.0.1');
      let text = '';
      socket.on('data', (chunk) => {
        text += chunk.toString('utf8');
      });
      socket.on('end', () => resolve(text));
      socket.on('error', reject);
      socket.end('NOT HTTP AT ALL\r\n\r\n');
    });
    expect(raw).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    expect(JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4)).error.json.data.appCode).toBe('VALIDATION');
  });

  it('streams JSON lines to a client that asks for them, without a Content-Length', async () => {
    const input = encodeURIComponent(JSON.stringify({ 0: { json: null }, 1: { json: null } }));
    const res = await exchange(`${server.url}/trpc/ai.models,auth.me?batch=1&input=${input}`, {
      headers: { 'trpc-accept': 'application/jsonl' },
    });
    expect(res.status).toBe(200);
    expect(res.headers['content-length']).toBeUndefined();
    expect(res.headers['transfer-encoding']).toBe('chunked');
    const lines = res.body.trim().split('\n');
    expect(lines.length).toBeGreaterThan(1);
    expect(() => lines.map((l) => JSON.parse(l))).not.toThrow();
  });

  it("answers an unreadable body or input with VALIDATION in our words, not the engine's", async () => {
    const deep = `{"json":${'['.repeat(20_000)}${']'.repeat(20_000)}}`;
    for (const body of [
      'null',
      '{"json":',
      '{"json":{"email":"a"},"meta":{"values":{"email":["bigint"]}}}',
      deep,
    ]) {
      const res = await exchange(`${server.url}/trpc/auth.signIn`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
      });
      expect(res.status, body.slice(0, 60)).toBe(400);
      const { message, data } = JSON.parse(res.body).error.json;
      expect(data.appCode).toBe('VALIDATION');
      expect(message, body.slice(0, 60)).toBe(
        body === deep
          ? 'The input is nested too deeply'
          : 'The request could not be read: send the input as JSON, the way the tRPC client does',
      );
    }
  });

  it('refuses a body over the size limit with 413', async () => {
    const res = await exchange(`${server.url}/trpc/auth.signIn`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ json: { email: 'a@example.com', password: 'x'.repeat(1024 * 1024 + 10) } }),
    });
    expect(res.status).toBe(413);
    expect(res.headers['content-type']).toBe('application/json');
    expect(JSON.parse(res.body).error.json.data.code).toBe('PAYLOAD_TOO_LARGE');
  });

  it('sets every cookie a procedure sets', async () => {
    const res = await exchange(`${server.url}/trpc/auth.signUp`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ json: { email: 'cookies@example.com', password: 'sturdy-pass-1' } }),
    });
    expect(res.status).toBe(200);
    expect(res.headers['set-cookie']?.some((c) => c.startsWith('df_session='))).toBe(true);
  });
});

/**
 * A single query or mutation is answered by the handler's own path, not through a fetch Request and
 * Response (`resolveResponse`): every answer must be the same either way. The same app is mounted twice,
 * once with `singleCalls: false`, and each request goes to both.
 */
describe('a single call answered without a fetch Request', () => {
  let t: TestDb;
  let server: http.Server;
  let base: string;
  let cookie: string;
  let inner: InnerContext;
  const errors: { mount: string; code: string; url: string }[] = [];

  beforeAll(async () => {
    t = await createTestDb('sqlite');
    inner = testInner(t.db);
    const app = express();
    app.use(requestLogging());
    for (const [mount, singleCalls] of [
      ['/single/trpc', true],
      ['/stock/trpc', false],
    ] as const) {
      app.use(
        mount,
        trpcHandler({
          router: appRouter,
          // `x-slow-context`: a context that takes a while, as a session read over the network does.
          createContext: async ({ req, res, info }) => {
            if (req.headers['x-slow-context']) await new Promise((r) => setTimeout(r, 100));
            return createRequestContext(inner, req, res, info);
          },
          maxBodySize: 1024,
          maxBatchSize: MAX_BATCH_SIZE,
          singleCalls,
          onError: ({ error, req }) => errors.push({ mount, code: error.code, url: req.originalUrl }),
        }),
      );
    }
    server = app.listen(0, '127.0.0.1');
    await new Promise<void>((resolve) => server.once('listening', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const signUp = await exchange(`${base}/single/trpc/auth.signUp`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ json: { email: 'single@example.com', password: 'sturdy-pass-1' } }),
    });
    cookie = signUp.headers['set-cookie']![0]!.split(';')[0]!;
  });
  afterAll(async () => {
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
    await t?.destroy();
  });

  const json = { 'content-type': 'application/json' };
  const q = (value: unknown) => encodeURIComponent(JSON.stringify(value));
  const requests: [string, { method?: string; body?: string; headers?: Record<string, string> }?][] = [
    ['ai.models'],
    [`ai.models?batch=1&input=${q({})}`],
    ['auth.me'],
    ['auth.me?batch=1'],
    [`jobs.get?input=${q({ json: { id: 'no-such-job' } })}`],
    [`jobs.get?batch=1&input=${q({ 0: { json: { id: 'no-such-job' } } })}`],
    [`jobs.get?input=${q({ json: { id: 'no-such-job' } })}`, { headers: { cookie: 'none' } }],
    ['jobs.get'],
    ['jobs.get?input=%7B'],
    ['auth.me?batch=1#x'],
    [`jobs.get?input=${q({ json: { id: 'no-such-job' } })}#frag`],
    [`jobs.get#?input=${q({ json: { id: 'no-such-job' } })}`],
    [`jobs.get?batch=1&input=${q([1])}`],
    [`jobs.get?batch=0&input=${q({ json: { id: 'x' } })}`],
    ['jobs.list?input=%7B%22json%22%3A%7B%7D%7D', { headers: { accept: 'application/jsonl' } }],
    ['jobs.get', { headers: { 'content-type': 'text/plain' } }],
    ['jobs.cancel', { method: 'POST', headers: json, body: JSON.stringify({ json: { id: 'no-such-job' } }) }],
    [
      'jobs.cancel?batch=1',
      { method: 'POST', headers: json, body: JSON.stringify({ 0: { json: { id: 'x' } } }) },
    ],
    ['jobs.cancel', { method: 'POST', headers: json, body: '' }],
    ['jobs.cancel', { method: 'POST', headers: json, body: 'null' }],
    ['jobs.cancel', { method: 'POST', headers: json, body: '{"json":' }],
    ['jobs.cancel', { method: 'POST', headers: json, body: '\ufeff{"json":{"id":"x"}}' }],
    [
      'jobs.cancel',
      { method: 'POST', headers: json, body: '{"json":{"id":1},"meta":{"values":{"id":["bigint"]}}}' },
    ],
    [
      'jobs.cancel',
      { method: 'POST', headers: json, body: JSON.stringify({ json: { id: 'x'.repeat(2000) } }) },
    ],
    [
      'jobs.cancel',
      { method: 'POST', headers: { 'content-type': 'text/plain' }, body: '{"json":{"id":"x"}}' },
    ],
    ['jobs.cancel', { method: 'GET' }],
    ['ai.models', { method: 'POST', headers: json, body: '{}' }],
    ['no.such.procedure'],
    [
      'ai.generateImage',
      {
        method: 'POST',
        headers: json,
        body: JSON.stringify({ json: { prompt: 'a red fox', model: 'demo-image', dryRun: true } }),
      },
    ],
    [
      'ai.generateImage',
      { method: 'POST', headers: json, body: JSON.stringify({ json: { prompt: '', model: 'demo-image' } }) },
    ],
    ['auth.signIn?batch=1', { method: 'POST', headers: json, body: JSON.stringify({ 0: { json: {} } }) }],
  ];

  it('gives the same status, headers and body as tRPC itself, and makes no fetch Request', async () => {
    const made = { requests: 0 };
    const FetchRequest = globalThis.Request;
    globalThis.Request = class extends FetchRequest {
      constructor(...args: ConstructorParameters<typeof FetchRequest>) {
        super(...args);
        made.requests++;
      }
    };
    try {
      let single = 0;
      for (const [path, init = {}] of requests) {
        const headers = { cookie, ...init.headers };
        const before = made.requests;
        const ours = await exchange(base, { ...init, headers, path: `/single/trpc/${path}` });
        if (made.requests === before) single++;
        const stock = await exchange(base, { ...init, headers, path: `/stock/trpc/${path}` });
        const label = `${init.method ?? 'GET'} ${path} ${init.body?.slice(0, 40) ?? ''}`;
        expect(ours.status, label).toBe(stock.status);
        for (const header of ['content-type', 'vary'])
          expect(ours.headers[header], label).toBe(stock.headers[header]);
        expect(ours.body.length, label).toBeGreaterThan(0);
        if (
          stock.headers['content-type']?.startsWith('application/json') &&
          !stock.headers['transfer-encoding']
        )
          expect(JSON.parse(ours.body), label).toEqual(JSON.parse(stock.body));
        else expect(ours.body, label).toBe(stock.body);
      }
      // Every request above but the six tRPC alone answers (JSON lines, a text/plain body twice, the
      // wrong method twice, an unknown path) made no fetch Request: a body over the limit is refused
      // before one is made, on either path.
      expect(single).toBe(requests.length - 6);
    } finally {
      globalThis.Request = FetchRequest;
    }
  });

  it('stops waiting for an image when its client goes away, on both paths', async () => {
    // No runner here: the job stays queued, and ai.generateImage waits on the change feed for it.
    const feed = inner.events.feed;
    const until = async (what: string, done: () => boolean) => {
      for (let i = 0; i < 200 && !done(); i++) await new Promise((r) => setTimeout(r, 10));
      expect(done(), what).toBe(true);
    };
    for (const mount of ['single', 'stock']) {
      const req = http.request(`${base}/${mount}/trpc/ai.generateImage`, {
        method: 'POST',
        headers: { ...json, cookie },
      });
      req.on('error', () => {});
      req.end(JSON.stringify({ json: { prompt: `a fox, ${mount}`, model: 'demo-image' } }));
      await until(`${mount}: the call waits for its job`, () => feed.size === 1);
      req.destroy();
      await until(`${mount}: the wait ends with the client`, () => feed.size === 0);
    }
  });

  it('ends a call whose client closes before its body is whole, on both paths', async () => {
    const { port } = new URL(base);
    const send = (path: string, bytes: string) =>
      new Promise<void>((resolve) => {
        const socket = net.connect(Number(port), '127.0.0.1', () => {
          socket.write(
            `POST ${path} HTTP/1.1\r\nHost: x\r\nCookie: ${cookie}\r\nX-Slow-Context: 1\r\n` +
              `Content-Type: application/json\r\nContent-Length: 100\r\n\r\n${bytes}`,
            () => {
              socket.destroy();
              resolve();
            },
          );
        });
      });
    errors.length = 0;
    const paths = ['/single/trpc/jobs.cancel', '/stock/trpc/jobs.cancel', '/single/trpc/jobs.cancel?batch=1'];
    for (const path of paths) {
      await send(path, '{"json":{"id"'); // half a body
      await send(path, ''); // the headers alone
    }
    // Each call ends (the procedure or the read reports the client gone) instead of waiting for good.
    for (let i = 0; i < 100 && errors.length < paths.length * 2; i++)
      await new Promise((r) => setTimeout(r, 20));
    expect(errors.map((e) => `${e.url} ${e.code}`).sort()).toEqual(
      paths.flatMap((p) => [`${p} CLIENT_CLOSED_REQUEST`, `${p} CLIENT_CLOSED_REQUEST`]).sort(),
    );
  });

  it('refuses a Host tRPC cannot make a URL of with 400, not 500', async () => {
    // A batch of two goes through tRPC's own request; `a@b` makes undici's Request throw.
    const res = await exchange(base, {
      headers: { host: 'a@b' },
      path: `/single/trpc/ai.models,auth.me?batch=1&input=${q({})}`,
    });
    expect(res.status).toBe(400);
    expect(res.headers['content-type']).toBe('application/json');
    expect(JSON.parse(res.body).error.json.data.appCode).toBe('VALIDATION');
  });
});
