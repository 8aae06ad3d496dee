import { createTRPCClient, httpBatchLink, httpLink, httpSubscriptionLink, splitLink } from '@trpc/client';
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
 * A typed client for other TypeScript apps. Queries go over batched HTTP, mutations one per request;
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
        // Mutations one per request, as the SPA sends them: the server refuses the rate-limited ones
        // (redeem, sign-in…) inside a batch, and calls made in the same tick would be batched.
        false: splitLink({
          condition: (op) => op.type === 'mutation',
          true: httpLink({ url: `${base}/trpc`, transformer: superjson, headers: () => ({ authorization }) }),
          false: httpBatchLink({
            url: `${base}/trpc`,
            transformer: superjson,
            maxItems: MAX_BATCH_SIZE,
            headers: () => ({ authorization }),
          }),
        }),
      }),
    ],
  });
}
