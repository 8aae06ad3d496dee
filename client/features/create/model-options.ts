import type { ModelInfo } from '../../../shared/models.ts';
import { parseSize } from '../../../shared/models.ts';
import type { Locale } from '../../i18n/index.tsx';

export const modelLabel = (model: ModelInfo, locale: Locale) =>
  locale === 'zh-CN' ? model.label.zh : model.label.en;

/** "1024×768 · 4:3" — sizes read better with their shape. */
export function sizeLabel(size: string): string {
  const parsed = parseSize(size);
  if (!parsed) return size;
  const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));
  const d = gcd(parsed.width, parsed.height);
  return `${parsed.width}×${parsed.height} · ${parsed.width / d}:${parsed.height / d}`;
}

/** CSS aspect-ratio for a "WxH" size; square when unknown. */
export function aspectOf(size: string | undefined): string {
  const parsed = size ? parseSize(size) : undefined;
  return parsed ? `${parsed.width} / ${parsed.height}` : '1 / 1';
}
