import { useQuery } from '@tanstack/react-query';
import { useI18n } from '../../i18n/index.tsx';
import { useTRPC } from '../../lib/trpc.ts';

/** The models on offer (ai.models); they change only with the server's configuration. */
export function useModels() {
  const trpc = useTRPC();
  return useQuery(trpc.ai.models.queryOptions(undefined, { staleTime: 5 * 60_000 }));
}

/**
 * A model's name in the user's language, from the catalogue the server sends (ai.models); the id when the
 * model is unknown. The browser does not bundle the catalogue itself.
 */
export function useModelName() {
  const { locale } = useI18n();
  const models = useModels();
  return (id: string) => {
    const model = models.data?.find((m) => m.id === id);
    if (!model) return id;
    return locale === 'zh-CN' ? model.label.zh : model.label.en;
  };
}
