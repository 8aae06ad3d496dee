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
          true: httpLink({ url: baseUrl, transformer: superjson }),
          false: httpBatchLink({ url: baseUrl, transformer: superjson, maxItems: MAX_BATCH_SIZE }),
        }),
      }),
    ],
  });
}
