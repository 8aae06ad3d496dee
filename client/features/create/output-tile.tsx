import type { OutputView } from '../../../shared/schemas/generation.ts';
import { useI18n } from '../../i18n/index.tsx';

const aspectOfOutput = (output: OutputView) =>
  output.meta.width && output.meta.height ? `${output.meta.width} / ${output.meta.height}` : '1 / 1';

/** One fresh result on the Create page, in a box sized from its metadata before the bytes arrive. */
export function OutputTile({ output }: { output: OutputView }) {
  const { t } = useI18n();
  if (output.kind === 'video') {
    return (
      <figure className="result-tile" style={{ aspectRatio: aspectOfOutput(output) }}>
        {/* biome-ignore lint/a11y/useMediaCaption: generated videos have no speech */}
        <video
          src={output.url}
          poster={output.thumbnailUrl}
          controls
          playsInline
          preload="metadata"
          data-testid="result-video"
        />
      </figure>
    );
  }
  return (
    <figure className="result-tile" style={{ aspectRatio: aspectOfOutput(output) }}>
      {output.placeholder ? (
        <div className="placeholder-box">{t('create.estimate')}</div>
      ) : (
        <a href={output.url} target="_blank" rel="noreferrer">
          <img
            src={output.url}
            alt={output.prompt ?? ''}
            width={output.meta.width}
            height={output.meta.height}
            data-testid="result-image"
          />
        </a>
      )}
    </figure>
  );
}
