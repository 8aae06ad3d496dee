import { describe, expect, it } from 'vitest';
import { AppError } from '../../shared/errors.ts';
import { createProviderRegistry } from './registry.ts';

const codeOf = (fn: () => unknown): string | undefined => {
  try {
    fn();
  } catch (error) {
    return error instanceof AppError ? error.code : 'not an AppError';
  }
  return undefined;
};

describe('provider registry', () => {
  it('offers only the demo models when only the demo is enabled', () => {
    const registry = createProviderRegistry({ demo: { enabled: true } });
    expect(registry.models().map((m) => m.id)).toEqual(['demo-image', 'demo-video']);
    expect(registry.get('demo')?.id).toBe('demo');
    expect(registry.get('dashscope')).toBeUndefined();
  });

  it('offers DashScope and OpenAI models once their keys are configured, and nothing without a key', () => {
    const registry = createProviderRegistry({
      dashscope: { apiKey: 'ds-key', baseUrl: 'http://127.0.0.1:1' },
      openai: { apiKey: '', baseUrl: 'http://127.0.0.1:1' },
    });
    const providers = new Set(registry.models().map((m) => m.provider));
    expect([...providers]).toEqual(['dashscope']);
  });

  it('resolves the default model of a kind to a configured provider', () => {
    const registry = createProviderRegistry({
      demo: { enabled: true },
      openai: { apiKey: 'sk-test', baseUrl: 'http://127.0.0.1:1' },
    });
    const image = registry.resolve(undefined, 'image');
    expect(image.model.id).toBe('gpt-image-1');
    expect(image.provider.id).toBe('openai');
    expect(registry.resolve(undefined, 'video').model.id).toBe('demo-video');
  });

  it('rejects unknown, unavailable and wrong-kind models with VALIDATION', () => {
    const registry = createProviderRegistry({ demo: { enabled: true } });
    expect(codeOf(() => registry.resolve('no-such-model', 'image'))).toBe('VALIDATION');
    expect(codeOf(() => registry.resolve('gpt-image-1', 'image'))).toBe('VALIDATION');
    expect(codeOf(() => registry.resolve('demo-video', 'image'))).toBe('VALIDATION');
    expect(codeOf(() => createProviderRegistry({}).resolve(undefined, 'image'))).toBe('VALIDATION');
    expect(codeOf(() => registry.resolve('demo-image', 'image'))).toBeUndefined();
  });
});
