import net, { type AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { connect } from '../../db/connect.ts';
import { databaseUnavailable } from '../../db/dialect.ts';
import { testInner } from '../../test/context.ts';
import { DIALECTS } from '../../test/db.ts';
import { httpClient, startTestServer } from '../../test/http.ts';
import { mysqlBehindProxy } from '../../test/proxy.ts';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

/** A port nothing listens on: bound, then closed. */
async function closedPort(): Promise<number> {
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

/** A raw tRPC call, to read the status, headers and body a client gets. */
async function call(
  url: string,
  path: string,
  init: { cookie?: string; token?: string; body?: unknown } = {},
) {
  const headers: Record<string, string> = {};
  if (init.cookie) headers.cookie = init.cookie;
  if (init.token) headers.authorization = `Bearer ${init.token}`;
  if (init.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${url}/trpc/${path}`, {
    method: init.body === undefined ? 'GET' : 'POST',
    headers,
    ...(init.body === undefined ? {} : { body: JSON.stringify({ json: init.body }) }),
  });
  const text = await res.text();
  return { status: res.status, retryAfter: res.headers.get('retry-after'), text };
}

/** What every call gets while the database does not answer: a 503 to retry, said plainly, no internals. */
function expectUnavailable(answer: Awaited<ReturnType<typeof call>>) {
  expect(answer.status).toBe(503);
  expect(answer.retryAfter).toBe('5');
  const body = JSON.parse(answer.text) as {
    error: { json: { message: string; data: Record<string, unknown> } };
  };
  expect(body.error.json.message).toBe('The service is briefly unavailable; please try again in a moment');
  expect(body.error.json.data).toMatchObject({
    code: 'SERVICE_UNAVAILABLE',
    httpStatus: 503,
    appCode: 'INTERNAL',
    reason: 'UNAVAILABLE',
  });
  expect(answer.text).not.toMatch(/ECONN|PROTOCOL_|at .*\.ts|stack|127\.0\.0\.1/);
}

describe('the database not answering', () => {
  it('is a 503 with Retry-After for signed-in, signing-in and token calls, single or batched (nothing listening)', async () => {
    const db = connect({ databaseUrl: `mysql://df:pw@127.0.0.1:${await closedPort()}/df`, dataDir: '' });
    cleanups.push(() => db.destroy());
    const server = await startTestServer(testInner(db));
    cleanups.push(() => server.close());

    expectUnavailable(await call(server.url, 'auth.me', { cookie: 'df_session=dfs_whatever' }));
    expectUnavailable(
      await call(server.url, 'auth.signIn', {
        body: { email: 'someone@example.com', password: 'sturdy-pass-1' },
      }),
    );
    expectUnavailable(
      await call(server.url, 'ai.generateImage', { token: 'dft_whatever', body: { prompt: 'a cat' } }),
    );
    // A batch of two (tRPC's own path): each call says the same.
    const batch = await fetch(`${server.url}/trpc/credits.balance,auth.me?batch=1&input={}`, {
      headers: { cookie: 'df_session=dfs_whatever' },
    });
    expect(batch.status).toBe(503);
    const items = (await batch.json()) as {
      error: { json: { data: { appCode: string; reason: string } } };
    }[];
    expect(items.map((i) => [i.error.json.data.appCode, i.error.json.data.reason])).toEqual([
      ['INTERNAL', 'UNAVAILABLE'],
      ['INTERNAL', 'UNAVAILABLE'],
    ]);
    // What needs no database still answers.
    expect((await call(server.url, 'ai.models')).status).toBe(200);
  });

  it.runIf(DIALECTS.includes('mysql'))(
    'that goes away under a running server is a 503 (no partial write), and calls succeed once it is back',
    async () => {
      const { db, direct, proxy, destroy } = await mysqlBehindProxy();
      cleanups.push(destroy);
      const server = await startTestServer(testInner(db, { env: { SIGNUP_BONUS_CREDITS: '10' } }));
      cleanups.push(() => server.close());

      const cookies = new Map<string, string>();
      const client = httpClient(server.url, { cookies });
      const { user } = await client.auth.signUp.mutate({
        email: 'down@example.com',
        password: 'sturdy-pass-1',
      });
      const cookie = [...cookies].map(([k, v]) => `${k}=${v}`).join('; ');

      await proxy.cut();
      // Pooled connections are gone (connection lost) and new ones are refused: both are a 503.
      for (let i = 0; i < 3; i++) expectUnavailable(await call(server.url, 'credits.balance', { cookie }));
      expectUnavailable(
        await call(server.url, 'ai.generateImage', { cookie, body: { prompt: 'a cat', size: '512x512' } }),
      );

      await proxy.restore();
      const back = await call(server.url, 'credits.balance', { cookie });
      expect(back.status).toBe(200);
      // The generation refused while the database was away charged nothing and left no job.
      expect(JSON.parse(back.text).result.data.json.balance).toBe(10);
      const jobs = await direct.selectFrom('jobs').select('id').where('user_id', '=', user.id).execute();
      expect(jobs).toEqual([]);
    },
    30_000,
  );

  it('is told apart from a refused statement, through causes', () => {
    const lost = Object.assign(new Error('Connection lost: The server closed the connection.'), {
      code: 'PROTOCOL_CONNECTION_LOST',
    });
    expect(databaseUnavailable(lost)).toBe('PROTOCOL_CONNECTION_LOST');
    expect(databaseUnavailable(new Error('wrapped', { cause: lost }))).toBe('PROTOCOL_CONNECTION_LOST');
    expect(databaseUnavailable(Object.assign(new Error('busy'), { code: 'SQLITE_BUSY' }))).toBe(
      'SQLITE_BUSY',
    );
    expect(databaseUnavailable(new Error('Pool is closed.'))).toBe('POOL_CLOSED');
    expect(databaseUnavailable(Object.assign(new Error('dup'), { code: 'ER_DUP_ENTRY' }))).toBeUndefined();
    expect(
      databaseUnavailable(Object.assign(new Error('syntax'), { code: 'ER_PARSE_ERROR' })),
    ).toBeUndefined();
    expect(databaseUnavailable(new TypeError('x is undefined'))).toBeUndefined();
    expect(databaseUnavailable(null)).toBeUndefined();
  });
});
