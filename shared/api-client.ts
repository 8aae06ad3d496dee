import { createTRPCClient, httpBatchLink, httpSubscriptionLink, splitLink } from '@trpc/client';
import superjson from 'superjson';
import type { AppRouter } from '../server/routers/index.ts';
import { MAX_BATCH_SIZE } from './limits.ts';

export type { AppRouter };

export interface ClientOptions {
  /** The server's origin, e.g. `https://dream.example.com`. */
  url: string;
  /** An API token from the API tokens page (`apiTokens.create`). */
  token: string;
  /** For `jobs.watch` outside a browser: an EventSource implementation that accepts `fetch` (npm `eventsource`). */
  EventSource?: unknown;
}

/**
 * A typed client for other TypeScript apps. Queries and mutations go over batched HTTP;
 * `jobs.watch` streams over SSE.
 */
export function createClient(options: ClientOptions) {
  const base = options.url.replace(/\/+$/, '');
  const authorization = `Bearer ${options.token}`;
  return createTRPCClient<AppRouter>({
    links: [
      splitLink({
        condition: (op) => op.type === 'subscription',
        true: httpSubscriptionLink({
          url: `${base}/trpc`,
          transformer: superjson,
          EventSource: options.EventSource as typeof globalThis.EventSource | undefined,
          eventSourceOptions: () =>
            ({
              fetch: (input: RequestInfo | URL, init?: RequestInit) =>
                fetch(input, {
                  ...init,
                  headers: { ...(init?.headers as Record<string, string>), authorization },
                }),
            }) as EventSourceInit,
        }),
        false: httpBatchLink({
          url: `${base}/trpc`,
          transformer: superjson,
          maxItems: MAX_BATCH_SIZE,
          headers: () => ({ authorization }),
        }),
      }),
    ],
  });
}
