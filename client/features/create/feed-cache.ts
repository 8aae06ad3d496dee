import type { InfiniteData } from '@tanstack/react-query';
import type { inferRouterOutputs } from '@trpc/server';
import type { AppRouter } from '../../../server/routers/index.ts';
import type { useTRPC } from '../../lib/trpc.ts';
import { isFinal } from './snapshots.ts';

export type FeedPage = inferRouterOutputs<AppRouter>['jobs']['list'];
export type FeedJob = FeedPage['items'][number];
export const FEED_PAGE_SIZE = 10;

/** Puts a job at the top of the feed's cache (or replaces it), so it shows before the list is refetched. */
export function upsertFeedJob(data: InfiniteData<FeedPage> | undefined, job: FeedJob) {
  if (!data) return data;
  const pages = data.pages.map((page) => ({
    ...page,
    items: page.items.map((item) => (item.id === job.id ? { ...item, ...job } : item)),
  }));
  const present = pages.some((page) => page.items.some((item) => item.id === job.id));
  if (!present && pages[0]) pages[0] = { ...pages[0], items: [job, ...pages[0].items] };
  return { ...data, pages };
}

/** The feed's query: the Create page prefetches it while the feed's own chunk loads. */
export const feedQueryOptions = (trpc: ReturnType<typeof useTRPC>) =>
  trpc.jobs.list.infiniteQueryOptions(
    { limit: FEED_PAGE_SIZE },
    {
      getNextPageParam: (last) => last.nextCursor ?? undefined,
      staleTime: 0,
      // A safety net for running jobs when the event stream is cut (proxies, sleep).
      refetchInterval: (query) =>
        query.state.data?.pages.some((p) => p.items.some((j) => !isFinal(j))) ? 10_000 : false,
    },
  );
