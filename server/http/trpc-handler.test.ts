import http from 'node:http';
import superjson from 'superjson';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testInner } from '../../test/context.ts';
import { createTestDb, type TestDb } from '../../test/db.ts';
import { startTestServer } from '../../test/http.ts';

/** One raw HTTP exchange, so the framing (Content-Length or chunked) can be seen. */
function exchange(
  url: string,
  init: { method?: string; body?: string; headers?: Record<string, string> } = {},
) {
  return new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }>(
    (resolve, reject) => {
      const req = http.request(url, { method: init.method ?? 'GET', headers: init.headers }, (res) => {
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
