import type { ModelInfo } from './models.ts';
import { extended } from './objects.ts';

/** The parameters that decide a price or are checked against a model's limits. */
export interface GenerationParams {
  n?: number;
  size?: string;
  durationSeconds?: number;
  resolution?: string;
  negativePrompt?: string;
  /** True when the request carries a first-frame image (image-to-video). */
  hasImageInput?: boolean;
}

export interface ParamProblem {
  /** The input field at fault, e.g. "size". */
  field: keyof GenerationParams | 'model';
  message: string;
}

/** Fills in the model's defaults (first listed size, resolution and duration; n = 1). */
export const withDefaults = (model: ModelInfo, params: GenerationParams): GenerationParams =>
  extended(params, {
    n: model.kind === 'video' ? 1 : (params.n ?? 1),
    size: model.kind === 'image' ? (params.size ?? model.sizes?.[0]) : undefined,
    resolution: model.kind === 'video' ? (params.resolution ?? model.resolutions?.[0]) : undefined,
    durationSeconds: model.kind === 'video' ? (params.durationSeconds ?? model.durations?.[0]) : undefined,
  });

/**
 * The price in integer credits: per image × n, or per second × duration × resolution factor, rounded up.
 * Missing parameters take the model's defaults.
 */
export const quote = (
  model: ModelInfo,
  params: Pick<GenerationParams, 'n' | 'durationSeconds' | 'resolution'> = {},
): number => {
  const filled = withDefaults(model, params);
  const price = model.price;
  if ('perImage' in price) return Math.ceil(price.perImage * (filled.n ?? 1));
  const factor = price.resolutionFactor[filled.resolution ?? ''] ?? 1;
  // Round away float noise (2 × 4 × 1.5 must be 12, not 12.000000000000002 → 13).
  const raw = Math.round(price.perSecond * (filled.durationSeconds ?? 0) * factor * 1e6) / 1e6;
  return Math.ceil(raw);
};

/** Everything wrong with a request for this model; empty when it may be sent. */
export const validateGenerationParams = (model: ModelInfo, params: GenerationParams): ParamProblem[] => {
  const problems: ParamProblem[] = [];
  const n = params.n ?? 1;
  if (!Number.isInteger(n) || n < 1) problems.push({ field: 'n', message: 'n must be a whole number ≥ 1' });
  else if (n > model.maxN)
    problems.push({ field: 'n', message: `${model.id} makes at most ${model.maxN} per request` });

  if (model.kind === 'image') {
    if (params.size !== undefined && !model.sizes?.includes(params.size)) {
      problems.push({
        field: 'size',
        message: `size ${params.size} is not offered by ${model.id} (allowed: ${model.sizes?.join(', ') ?? 'none'})`,
      });
    }
    if (params.durationSeconds !== undefined)
      problems.push({ field: 'durationSeconds', message: 'images have no duration' });
    if (params.resolution !== undefined)
      problems.push({ field: 'resolution', message: 'images take a size, not a resolution' });
  } else {
    if (params.size !== undefined)
      problems.push({ field: 'size', message: 'videos take a resolution, not a size' });
    if (params.durationSeconds !== undefined && !model.durations?.includes(params.durationSeconds)) {
      problems.push({
        field: 'durationSeconds',
        message: `duration ${params.durationSeconds}s is not offered by ${model.id} (allowed: ${model.durations?.join(', ') ?? 'none'})`,
      });
    }
    if (
      params.resolution !== undefined &&
      !(model.resolutions as string[] | undefined)?.includes(params.resolution)
    ) {
      problems.push({
        field: 'resolution',
        message: `resolution ${params.resolution} is not offered by ${model.id} (allowed: ${model.resolutions?.join(', ') ?? 'none'})`,
      });
    }
  }

  if (params.negativePrompt && !model.supportsNegativePrompt)
    problems.push({ field: 'negativePrompt', message: `${model.id} does not take a negative prompt` });
  if (params.hasImageInput && !model.supportsImageInput)
    problems.push({ field: 'hasImageInput', message: `${model.id} does not take an input image` });
  if (!params.hasImageInput && model.requiresImageInput)
    problems.push({ field: 'hasImageInput', message: `${model.id} needs an input image` });
  return problems;
};
