import { useQuery } from '@tanstack/react-query';
import { useTRPC } from '../../lib/trpc.ts';

/** The models on offer (ai.models); they change only with the server's configuration. */
export function useModels() {
  const trpc = useTRPC();
  return useQuery(trpc.ai.models.queryOptions(undefined, { staleTime: 5 * 60_000 }));
}
