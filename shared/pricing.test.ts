import { describe, expect, it } from 'vitest';
import { defaultModel, findModel, MODELS, type ModelInfo } from './models.ts';
import { quote, validateGenerationParams, withDefaults } from './pricing.ts';

const model = (id: string): ModelInfo => {
  const found = findModel(id);
  if (!found) throw new Error(`no model ${id}`);
  return found;
};

describe('quote', () => {
  it('charges per image times n', () => {
    expect(quote(model('demo-image'), { n: 3 })).toBe(6);
    expect(quote(model('demo-image'))).toBe(2);
    expect(quote(model('gpt-image-1'), { n: 2 })).toBe(20);
  });

  it('charges per second times the resolution factor, rounded up to whole credits', () => {
    expect(quote(model('demo-video'), { durationSeconds: 2, resolution: '480p' })).toBe(4);
    expect(quote(model('demo-video'), { durationSeconds: 4, resolution: '720p' })).toBe(12);
    const odd: ModelInfo = {
      ...model('demo-video'),
      price: { perSecond: 1, resolutionFactor: { '480p': 1.3 } },
    };
    expect(quote(odd, { durationSeconds: 2, resolution: '480p' })).toBe(3);
  });

  it('uses the default duration and resolution when they are left out', () => {
    expect(quote(model('demo-video'))).toBe(8);
    expect(quote(model('wan-t2v-turbo'))).toBe(75);
  });

  it('always returns an integer', () => {
    for (const m of MODELS) expect(Number.isInteger(quote(m, { n: 1 }))).toBe(true);
  });
});

describe('validateGenerationParams', () => {
  it('accepts the defaults of every model', () => {
    for (const m of MODELS) {
      const params = { ...withDefaults(m, {}), hasImageInput: m.requiresImageInput };
      expect(validateGenerationParams(m, params), m.id).toEqual([]);
    }
  });

  it('rejects a size the model does not offer', () => {
    const problems = validateGenerationParams(model('demo-image'), { size: '333x333' });
    expect(problems.map((p) => p.field)).toEqual(['size']);
  });

  it('rejects n above the model limit and n below 1', () => {
    expect(validateGenerationParams(model('dall-e-3'), { n: 2 }).map((p) => p.field)).toEqual(['n']);
    expect(validateGenerationParams(model('demo-image'), { n: 5 }).map((p) => p.field)).toEqual(['n']);
    expect(validateGenerationParams(model('demo-image'), { n: 0 }).map((p) => p.field)).toEqual(['n']);
  });

  it('rejects a duration or resolution the model does not offer', () => {
    const problems = validateGenerationParams(model('demo-video'), {
      durationSeconds: 7,
      resolution: '1080p',
    });
    expect(problems.map((p) => p.field).sort()).toEqual(['durationSeconds', 'resolution']);
  });

  it('rejects a negative prompt for models that ignore it and image input for text-only models', () => {
    expect(
      validateGenerationParams(model('gpt-image-1'), { negativePrompt: 'blurry' }).map((p) => p.field),
    ).toEqual(['negativePrompt']);
    expect(
      validateGenerationParams(model('wan-t2v-turbo'), { hasImageInput: true }).map((p) => p.field),
    ).toEqual(['hasImageInput']);
  });

  it('requires an input image for image-to-video models', () => {
    expect(validateGenerationParams(model('wan-i2v-plus'), {}).map((p) => p.field)).toEqual([
      'hasImageInput',
    ]);
    expect(validateGenerationParams(model('wan-i2v-plus'), { hasImageInput: true })).toEqual([]);
  });
});

describe('catalogue', () => {
  it('has unique ids and sizes in WIDTHxHEIGHT form', () => {
    expect(new Set(MODELS.map((m) => m.id)).size).toBe(MODELS.length);
    for (const m of MODELS) for (const s of m.sizes ?? []) expect(s).toMatch(/^\d+x\d+$/);
  });

  it('spells the Wan model names as the provider does', () => {
    expect(model('wan-t2i-turbo').providerModel).toBe('wanx2.1-t2i-turbo');
    expect(model('wan-t2v-turbo').providerModel).toBe('wanx2.1-t2v-turbo');
    expect(model('wan-t2i-flash').providerModel).toBe('wan2.2-t2i-flash');
    expect(model('wan-i2v-plus').providerModel).toBe('wan2.2-i2v-plus');
  });

  it('defaults to a real provider before the demo and to text-to-video without an image', () => {
    expect(defaultModel('image', MODELS)?.provider).toBe('dashscope');
    expect(
      defaultModel(
        'image',
        MODELS.filter((m) => m.provider === 'demo'),
      )?.id,
    ).toBe('demo-image');
    expect(defaultModel('video', MODELS)?.id).toBe('wan-t2v-turbo');
    expect(defaultModel('video', [])).toBeUndefined();
  });
});
