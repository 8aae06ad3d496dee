import { parseSize, VIDEO_DIMENSIONS, type VideoResolution } from '../../shared/models.ts';
import type { OutputView } from '../../shared/schemas/generation.ts';
import type { Translate } from '../i18n/index.tsx';

/** "Video · Demo video · 4 s · 'waves at dawn'": a job in words, from its structured fields. */
export function describeJob(
  job: {
    kind: 'image' | 'video';
    model: string;
    prompt?: string;
    durationSeconds?: number;
    n?: number;
    resolution?: string;
    size?: string;
  },
  t: Translate,
  /** The model's name in the user's language (useModelName). */
  modelName: (id: string) => string,
  { withPrompt = true } = {},
): string {
  const parts = [job.kind === 'video' ? t('create.video') : t('create.image'), modelName(job.model)];
  if (job.kind === 'video' && job.durationSeconds)
    parts.push(t('create.seconds', { n: job.durationSeconds }));
  if (job.resolution) parts.push(job.resolution);
  if (job.size) parts.push(job.size.replace('x', '×'));
  if (job.kind === 'image' && job.n && job.n > 1) parts.push(t('ledger.images', { n: job.n }));
  if (withPrompt && job.prompt) {
    const short = job.prompt.length > 60 ? `${job.prompt.slice(0, 59)}…` : job.prompt;
    parts.push(t('ledger.prompt', { prompt: short }));
  }
  return parts.join(' · ');
}

/**
 * The pixel shape of an output, so its box has the right aspect ratio before the bytes arrive: stored
 * width/height, else what the job asked for (image size, video resolution). Undefined when unknown.
 */
export function outputShape(
  output: Pick<OutputView, 'kind' | 'meta'>,
  params?: Record<string, unknown>,
): { width: number; height: number } | undefined {
  const { width, height } = output.meta;
  if (width && height) return { width, height };
  if (output.kind === 'image' && typeof params?.size === 'string') return parseSize(params.size);
  if (output.kind === 'video' && typeof params?.resolution === 'string')
    return VIDEO_DIMENSIONS[params.resolution as VideoResolution];
  return undefined;
}
