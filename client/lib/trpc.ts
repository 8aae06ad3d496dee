import { QueryClient } from '@tanstack/react-query';
import {
  createTRPCClient,
  httpBatchLink,
  httpLink,
  httpSubscriptionLink,
  loggerLink,
  splitLink,
  TRPCClientError,
} from '@trpc/client';
import { createTRPCContext } from '@trpc/tanstack-react-query';
import superjson from 'superjson';
import type { AppRouter } from '../../server/routers/index.ts';
import { MAX_BATCH_SIZE } from '../../shared/limits.ts';

/** `TRPCProvider` wraps the app; `useTRPC()` gives typed queryOptions / mutationOptions / subscriptionOptions. */
export const { TRPCProvider, useTRPC, useTRPCClient } = createTRPCContext<AppRouter>();

export type AppClientError = TRPCClientError<AppRouter>;

/** Don't retry what will fail again: bad input, no credits, signed out, missing, rate-limited. */
const retryable = (error: unknown) => {
  if (!(error instanceof TRPCClientError)) return true;
  const status = (error.data as { httpStatus?: number } | undefined)?.httpStatus ?? 0;
  return status === 0 || status >= 500;
};

export function makeQueryClient() {
  return new QueryClient({
    defaultOptions: {
      queries: {
        staleTime: 15_000,
        retry: (count, error) => count < 2 && retryable(error),
        refetchOnWindowFocus: false,
      },
      mutations: { retry: false },
    },
  });
}

/** An answer that is not the API's JSON, with its status (see fetchKeepingStatus; lib/errors.ts reads it). */
export class HttpStatusError extends Error {
  readonly status: number;
  constructor(status: number) {
    super(`HTTP ${status} without a JSON body`);
    this.name = 'HttpStatusError';
    this.status = status;
  }
}

/**
 * The links' fetch: an answer that is not JSON (a proxy's error page, an empty 500) fails with its status,
 * which tRPC would drop (it reports only the parse error), so the UI can tell a server error from no connection.
 */
export const fetchKeepingStatus: typeof fetch = async (input, init) => {
  const response = await fetch(input, init);
  if (!response.headers.get('content-type')?.includes('json')) throw new HttpStatusError(response.status);
  return response;
};

/**
 * Links: the logger first (dev only), then a split — subscriptions (jobs.watch) go over SSE, everything
 * else (including auth, which sets cookies) through the batch link. Same origin, so the session cookie rides along.
 */
export function makeTrpcClient(baseUrl = '/trpc') {
  return createTRPCClient<AppRouter>({
    links: [
      // Dev only: in a production build this branch (and the logger) is dropped.
      ...(import.meta.env.DEV
        ? [
            loggerLink({
              enabled: (op) => (op.direction === 'down' ? op.result instanceof Error : op.type !== 'query'),
            }),
          ]
        : []),
      splitLink({
        condition: (op) => op.type === 'subscription',
        true: httpSubscriptionLink({ url: baseUrl, transformer: superjson }),
        // Mutations one per request: the server refuses rate-limited ones (sign-in, redeem…) in a batch.
        false: splitLink({
          condition: (op) => op.type === 'mutation',
          true: httpLink({ url: baseUrl, transformer: superjson, fetch: fetchKeepingStatus }),
          false: httpBatchLink({
            url: baseUrl,
            transformer: superjson,
            maxItems: MAX_BATCH_SIZE,
            fetch: fetchKeepingStatus,
          }),
        }),
      }),
    ],
  });
}
