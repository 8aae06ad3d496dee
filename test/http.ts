import type { AddressInfo } from 'node:net';
import { createTRPCClient, httpBatchLink } from '@trpc/client';
import superjson from 'superjson';
import { type AppOptions, createApp } from '../server/app.ts';
import type { InnerContext } from '../server/context.ts';
import { answerMalformedRequests } from '../server/http/client-errors.ts';
import type { AppRouter } from '../server/routers/index.ts';
import { MAX_BATCH_SIZE } from '../shared/limits.ts';

/** The real express app on a random loopback port. */
export async function startTestServer(inner: InnerContext, options: AppOptions = {}) {
  const app = createApp(inner, options);
  const server = app.listen(0, '127.0.0.1');
  answerMalformedRequests(server);
  await new Promise<void>((resolve) => server.once('listening', resolve));
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

/** A typed client over HTTP that keeps cookies like a browser would (or sends a Bearer token). */
export function httpClient(baseUrl: string, options: { token?: string; cookies?: Map<string, string> } = {}) {
  const cookies = options.cookies ?? new Map<string, string>();
  const client = createTRPCClient<AppRouter>({
    links: [
      httpBatchLink({
        url: `${baseUrl}/trpc`,
        transformer: superjson,
        maxItems: MAX_BATCH_SIZE,
        headers: () => ({
          ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
          ...(cookies.size ? { cookie: [...cookies].map(([k, v]) => `${k}=${v}`).join('; ') } : {}),
        }),
        fetch: async (input, init) => {
          const res = await fetch(input, init as RequestInit);
          for (const header of res.headers.getSetCookie()) {
            const [pair = '', ...attrs] = header.split(';');
            const eq = pair.indexOf('=');
            const name = pair.slice(0, eq).trim();
            const expired = attrs.some((a) => /expires=thu, 01 jan 1970/i.test(a.trim()));
            if (expired || pair.slice(eq + 1) === '') cookies.delete(name);
            else cookies.set(name, pair.slice(eq + 1));
          }
          return res;
        },
      }),
    ],
  });
  return client;
}
