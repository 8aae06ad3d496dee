import { AppError } from '../../shared/errors.ts';
import {
  defaultModel,
  findModel,
  MODELS,
  type ModelInfo,
  type ModelKind,
  type ProviderId,
} from '../../shared/models.ts';
import { createDashScopeProvider, type DashScopeConfig } from './dashscope.ts';
import { createDemoProvider, type DemoProviderOptions } from './demo.ts';
import { createOpenAIProvider, type OpenAIConfig } from './openai.ts';
import type { Provider } from './provider.ts';

/** What the app's config layer passes in (it maps env vars here; nothing below reads process.env). */
export interface ProviderRegistryConfig {
  demo?: { enabled: boolean } & DemoProviderOptions;
  dashscope?: DashScopeConfig;
  openai?: OpenAIConfig;
}

export interface ProviderRegistry {
  get(providerId: string): Provider | undefined;
  /** The catalogue models whose provider is configured, in catalogue order. */
  models(): ModelInfo[];
  /**
   * The model a request names (or the default for its kind) and its provider. Throws VALIDATION for an
   * unknown model, one of another kind, or one whose provider is not configured.
   */
  resolve(
    modelId: string | undefined,
    kind: ModelKind,
    options?: { withImage?: boolean },
  ): { model: ModelInfo; provider: Provider };
}

export const createProviderRegistry = (
  config: ProviderRegistryConfig,
  /** Test seam: replace an adapter (e.g. with one pointed at a fake). */
  overrides: Partial<Record<ProviderId, Provider>> = {},
): ProviderRegistry => {
  const providers = new Map<string, Provider>();
  if (config.demo?.enabled) providers.set('demo', createDemoProvider(config.demo));
  if (config.dashscope?.apiKey) providers.set('dashscope', createDashScopeProvider(config.dashscope));
  if (config.openai?.apiKey) providers.set('openai', createOpenAIProvider(config.openai));
  for (const [id, provider] of Object.entries(overrides)) if (provider) providers.set(id, provider);

  const models = () => MODELS.filter((model) => providers.has(model.provider));

  return {
    get: (providerId) => providers.get(providerId),
    models,
    resolve(modelId, kind, options) {
      const model = modelId === undefined ? defaultModel(kind, models(), options) : findModel(modelId);
      if (!model) {
        throw new AppError(
          'VALIDATION',
          modelId === undefined ? `no ${kind} model is available` : `unknown model ${modelId}`,
          { fields: modelId === undefined ? [] : ['model'] },
        );
      }
      if (model.kind !== kind)
        throw new AppError('VALIDATION', `model ${model.id} makes ${model.kind}s, not ${kind}s`, {
          fields: ['model'],
        });
      const provider = providers.get(model.provider);
      if (!provider)
        throw new AppError('VALIDATION', `model ${model.id} is not available on this server`, {
          fields: ['model'],
        });
      return { model, provider };
    },
  };
};
