/**
 * The model catalogue: plain data, importable by the browser (no node imports, no zod).
 * `providerModel` is the provider's own model name; change it here when a provider renames a model.
 */

export type ModelKind = 'image' | 'video';
export type ProviderId = 'demo' | 'dashscope' | 'openai';
export type VideoResolution = '480p' | '720p' | '1080p';

/** Per image × n, or per second × duration × resolution factor (rounded up). Amounts are credits. */
export type PriceRule =
  | { perImage: number }
  | { perSecond: number; resolutionFactor: Record<string, number> };

export interface ModelInfo {
  /** Stable catalogue id, used by clients and stored on jobs. */
  id: string;
  kind: ModelKind;
  provider: ProviderId;
  /** The provider's model name as its API spells it. */
  providerModel: string;
  label: { zh: string; en: string };
  /** Image sizes as "WIDTHxHEIGHT"; the first is the default. */
  sizes?: string[];
  /** Video resolutions; the first is the default. */
  resolutions?: VideoResolution[];
  /** Allowed video durations in seconds; the first is the default. */
  durations?: number[];
  /** Most outputs one request may ask for (videos: 1). */
  maxN: number;
  supportsNegativePrompt: boolean;
  /** Accepts a first-frame image (image-to-video). */
  supportsImageInput: boolean;
  /** Needs a first-frame image (pure image-to-video models). */
  requiresImageInput?: boolean;
  price: PriceRule;
}

const WAN_T2I_SIZES = ['1024x1024', '1280x720', '720x1280', '1024x768', '768x1024', '1440x1440'];
const VIDEO_FACTORS = { '480p': 1, '720p': 1.5, '1080p': 2.5 };

export const MODELS: readonly ModelInfo[] = [
  // Real providers first, so they become the default when configured.
  {
    id: 'wan-t2i-flash',
    kind: 'image',
    provider: 'dashscope',
    providerModel: 'wan2.2-t2i-flash',
    label: { zh: '通义万相 2.2 极速文生图', en: 'Wan 2.2 Flash (text to image)' },
    sizes: WAN_T2I_SIZES,
    maxN: 4,
    supportsNegativePrompt: true,
    supportsImageInput: false,
    price: { perImage: 4 },
  },
  {
    id: 'wan-t2i-plus',
    kind: 'image',
    provider: 'dashscope',
    providerModel: 'wan2.2-t2i-plus',
    label: { zh: '通义万相 2.2 专业文生图', en: 'Wan 2.2 Plus (text to image)' },
    sizes: WAN_T2I_SIZES,
    maxN: 4,
    supportsNegativePrompt: true,
    supportsImageInput: false,
    price: { perImage: 8 },
  },
  {
    id: 'wan-t2i-turbo',
    kind: 'image',
    provider: 'dashscope',
    providerModel: 'wanx2.1-t2i-turbo',
    label: { zh: '通义万相 2.1 文生图 Turbo', en: 'Wan 2.1 Turbo (text to image)' },
    sizes: WAN_T2I_SIZES,
    maxN: 4,
    supportsNegativePrompt: true,
    supportsImageInput: false,
    price: { perImage: 3 },
  },
  {
    id: 'wan-t2v-turbo',
    kind: 'video',
    provider: 'dashscope',
    providerModel: 'wanx2.1-t2v-turbo',
    label: { zh: '通义万相 2.1 文生视频 Turbo', en: 'Wan 2.1 Turbo (text to video)' },
    resolutions: ['720p', '480p'],
    durations: [5],
    maxN: 1,
    supportsNegativePrompt: true,
    supportsImageInput: false,
    price: { perSecond: 10, resolutionFactor: VIDEO_FACTORS },
  },
  {
    id: 'wan-t2v-plus',
    kind: 'video',
    provider: 'dashscope',
    providerModel: 'wan2.2-t2v-plus',
    label: { zh: '通义万相 2.2 专业文生视频', en: 'Wan 2.2 Plus (text to video)' },
    resolutions: ['1080p', '480p'],
    durations: [5],
    maxN: 1,
    supportsNegativePrompt: true,
    supportsImageInput: false,
    price: { perSecond: 14, resolutionFactor: VIDEO_FACTORS },
  },
  {
    id: 'wan-i2v-plus',
    kind: 'video',
    provider: 'dashscope',
    providerModel: 'wan2.2-i2v-plus',
    label: { zh: '通义万相 2.2 专业图生视频', en: 'Wan 2.2 Plus (image to video)' },
    resolutions: ['1080p', '480p'],
    durations: [5],
    maxN: 1,
    supportsNegativePrompt: true,
    supportsImageInput: true,
    requiresImageInput: true,
    price: { perSecond: 14, resolutionFactor: VIDEO_FACTORS },
  },
  {
    id: 'gpt-image-1',
    kind: 'image',
    provider: 'openai',
    providerModel: 'gpt-image-1',
    label: { zh: 'GPT Image 1', en: 'GPT Image 1' },
    sizes: ['1024x1024', '1536x1024', '1024x1536'],
    maxN: 4,
    supportsNegativePrompt: false,
    supportsImageInput: false,
    price: { perImage: 10 },
  },
  {
    id: 'dall-e-3',
    kind: 'image',
    provider: 'openai',
    providerModel: 'dall-e-3',
    label: { zh: 'DALL·E 3', en: 'DALL·E 3' },
    sizes: ['1024x1024', '1792x1024', '1024x1792'],
    maxN: 1,
    supportsNegativePrompt: false,
    supportsImageInput: false,
    price: { perImage: 10 },
  },
  {
    id: 'demo-image',
    kind: 'image',
    provider: 'demo',
    providerModel: 'demo-image',
    label: { zh: '演示图像（离线）', en: 'Demo image (offline)' },
    sizes: ['1024x1024', '512x512', '768x768', '1024x768', '768x1024'],
    maxN: 4,
    supportsNegativePrompt: true,
    supportsImageInput: false,
    price: { perImage: 2 },
  },
  {
    id: 'demo-video',
    kind: 'video',
    provider: 'demo',
    providerModel: 'demo-video',
    label: { zh: '演示视频（离线）', en: 'Demo video (offline)' },
    resolutions: ['480p', '720p'],
    durations: [4, 2, 6],
    maxN: 1,
    supportsNegativePrompt: true,
    supportsImageInput: true,
    price: { perSecond: 2, resolutionFactor: { '480p': 1, '720p': 1.5 } },
  },
];

export const findModel = (id: string): ModelInfo | undefined => MODELS.find((model) => model.id === id);

/**
 * The model used when a request names none: the first of that kind among `available` (catalogue order puts
 * real providers before the demo), skipping models that need an input image unless one is given.
 */
export const defaultModel = (
  kind: ModelKind,
  available: readonly ModelInfo[],
  options: { withImage?: boolean } = {},
): ModelInfo | undefined =>
  available.find((model) => model.kind === kind && (options.withImage || !model.requiresImageInput)) ??
  available.find((model) => model.kind === kind);

/** Parses "WIDTHxHEIGHT"; undefined when malformed. */
export const parseSize = (size: string): { width: number; height: number } | undefined => {
  const match = /^(\d{2,5})x(\d{2,5})$/.exec(size);
  if (!match) return undefined;
  return { width: Number(match[1]), height: Number(match[2]) };
};

/** Pixel dimensions of a video resolution (16:9 landscape). */
export const VIDEO_DIMENSIONS: Record<VideoResolution, { width: number; height: number }> = {
  '480p': { width: 832, height: 480 },
  '720p': { width: 1280, height: 720 },
  '1080p': { width: 1920, height: 1080 },
};
