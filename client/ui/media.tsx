import { useState } from 'react';
import type { OutputView } from '../../shared/schemas/generation.ts';
import { outputShape } from '../lib/describe.ts';

/**
 * An output shown whole: the box takes the media's own aspect ratio (from its metadata, else from what
 * the job asked for, else from the file once it loads) and the media is contained in it, never cropped or
 * stretched. `variant` picks the file: the full one, or the thumbnail for small tiles.
 */
export function Media({
  output,
  params,
  alt,
  variant = 'full',
  className = 'media',
  testId,
  controls = true,
}: {
  output: OutputView;
  params?: Record<string, unknown>;
  alt: string;
  variant?: 'full' | 'thumbnail';
  className?: string;
  testId?: string;
  controls?: boolean;
}) {
  const known = outputShape(output, params);
  const [loaded, setLoaded] = useState<{ width: number; height: number }>();
  const shape = known ?? loaded ?? { width: 1, height: 1 };
  const ratio = shape.width / shape.height;
  const style = { aspectRatio: `${shape.width} / ${shape.height}`, '--ar': ratio } as React.CSSProperties;
  if (output.kind === 'video' && variant === 'full') {
    return (
      // biome-ignore lint/a11y/useMediaCaption: generated videos have no speech
      <video
        className={className}
        style={style}
        src={output.url}
        poster={output.thumbnailUrl || undefined}
        controls={controls}
        playsInline
        preload="metadata"
        aria-label={alt || undefined}
        data-testid={testId}
        onLoadedMetadata={(e) => {
          const v = e.currentTarget;
          if (!known && v.videoWidth) setLoaded({ width: v.videoWidth, height: v.videoHeight });
        }}
      />
    );
  }
  return (
    <img
      className={className}
      style={style}
      src={variant === 'thumbnail' ? output.thumbnailUrl : output.url}
      alt={alt}
      width={known?.width}
      height={known?.height}
      loading={variant === 'thumbnail' ? 'lazy' : undefined}
      decoding="async"
      data-testid={testId}
      onLoad={(e) => {
        const img = e.currentTarget;
        if (!known && img.naturalWidth) setLoaded({ width: img.naturalWidth, height: img.naturalHeight });
      }}
    />
  );
}
