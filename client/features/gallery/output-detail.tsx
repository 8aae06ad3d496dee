import { useEffect, useRef } from 'react';
import type { OutputView } from '../../../shared/schemas/generation.ts';
import { useI18n } from '../../i18n/index.tsx';
import { formatBytes, formatDateTime } from '../../lib/format.ts';

/** The detail view of one output, as a modal dialog: media, parameters and the actions on it. */
export function OutputDetail({
  output,
  onClose,
  onUsePrompt,
  onAnimate,
  onDelete,
}: {
  output: OutputView;
  onClose: () => void;
  onUsePrompt: () => void;
  onAnimate: () => void;
  onDelete: () => void;
}) {
  const { t, locale } = useI18n();
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const dialog = ref.current;
    if (dialog && !dialog.open) dialog.showModal?.();
    return () => dialog?.close?.();
  }, []);
  const { meta } = output;
  const size = meta.width && meta.height ? `${meta.width}×${meta.height}` : undefined;
  return (
    <dialog
      ref={ref}
      className="detail"
      aria-label={t(`kind.${output.kind}`)}
      data-testid="output-detail"
      onCancel={(e) => {
        e.preventDefault();
        onClose();
      }}
      onClick={(e) => {
        // A click on the backdrop (the dialog element itself) closes it.
        if (e.target === e.currentTarget) onClose();
      }}
      onKeyDown={() => undefined}
    >
      <button type="button" className="detail-close" onClick={onClose} aria-label={t('common.close')}>
        ×
      </button>
      <div className="detail-body">
        <div className="detail-media">
          {output.kind === 'video' ? (
            // biome-ignore lint/a11y/useMediaCaption: generated videos have no speech
            <video
              src={output.url}
              poster={output.thumbnailUrl}
              controls
              playsInline
              data-testid="detail-video"
            />
          ) : (
            <img src={output.url} alt={output.prompt ?? ''} width={meta.width} height={meta.height} />
          )}
        </div>
        <div className="detail-info">
          {output.prompt && (
            <div>
              <p className="field-label">{t('gallery.prompt')}</p>
              <p className="detail-prompt" data-testid="detail-prompt">
                {output.prompt}
              </p>
            </div>
          )}
          <dl className="meta-list">
            <dt>{t('gallery.model')}</dt>
            <dd>{meta.model}</dd>
            {size && (
              <>
                <dt>{t('gallery.size')}</dt>
                <dd>{size}</dd>
              </>
            )}
            {meta.duration_seconds !== undefined && (
              <>
                <dt>{t('gallery.duration')}</dt>
                <dd>{t('create.seconds', { n: meta.duration_seconds })}</dd>
              </>
            )}
            {meta.seed !== undefined && (
              <>
                <dt>{t('gallery.seed')}</dt>
                <dd className="mono">{meta.seed}</dd>
              </>
            )}
            <dt>{t('gallery.fileSize')}</dt>
            <dd>{formatBytes(output.size)}</dd>
            <dt>{t('gallery.date')}</dt>
            <dd>{formatDateTime(output.createdAt, locale)}</dd>
          </dl>
          <div className="detail-actions">
            <a className="btn btn-primary btn-sm" href={output.downloadUrl || output.url} download>
              {t('gallery.download')}
            </a>
            {output.prompt && (
              <button type="button" className="btn btn-secondary btn-sm" onClick={onUsePrompt}>
                {t('gallery.usePrompt')}
              </button>
            )}
            {output.kind === 'image' && (
              <button type="button" className="btn btn-secondary btn-sm" onClick={onAnimate}>
                {t('gallery.animate')}
              </button>
            )}
            <button type="button" className="btn btn-danger-ghost btn-sm" onClick={onDelete}>
              {t('common.delete')}
            </button>
          </div>
        </div>
      </div>
    </dialog>
  );
}
