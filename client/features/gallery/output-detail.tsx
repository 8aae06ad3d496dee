import { useEffect, useRef } from 'react';
import type { OutputView } from '../../../shared/schemas/generation.ts';
import { useI18n } from '../../i18n/index.tsx';
import { formatBytes, formatDateTime } from '../../lib/format.ts';
import { Media } from '../../ui/media.tsx';
import { useModelName } from '../create/use-models.ts';

/**
 * The detail view of one output, as a modal dialog: the media whole, its parameters and the actions on it;
 * previous/next buttons and the arrow keys move through the gallery without closing it.
 */
export function OutputDetail({
  output,
  position,
  onPrev,
  onNext,
  onClose,
  onUsePrompt,
  onAnimate,
  onDelete,
}: {
  output: OutputView;
  position: { index: number; count: number; more: boolean };
  onPrev?: () => void;
  onNext?: () => void;
  onClose: () => void;
  onUsePrompt: () => void;
  onAnimate: () => void;
  onDelete: () => void;
}) {
  const { t, locale } = useI18n();
  const modelName = useModelName();
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
      data-output-id={output.id}
      onCancel={(e) => {
        e.preventDefault();
        onClose();
      }}
      onClick={(e) => {
        // A click on the backdrop (the dialog element itself) closes it.
        if (e.target === e.currentTarget) onClose();
      }}
      onKeyDown={(e) => {
        // Arrow keys page through the gallery, except while typing or scrubbing a video.
        const target = e.target as HTMLElement;
        if (target.tagName === 'VIDEO' || target.tagName === 'INPUT' || target.tagName === 'TEXTAREA') return;
        if (e.key === 'ArrowLeft' && onPrev) {
          e.preventDefault();
          onPrev();
        } else if (e.key === 'ArrowRight' && onNext) {
          e.preventDefault();
          onNext();
        }
      }}
    >
      <button type="button" className="detail-close" onClick={onClose} aria-label={t('common.close')}>
        ×
      </button>
      <div className="detail-body">
        <div className="detail-media">
          <Media
            key={output.id}
            output={output}
            alt={output.prompt ?? ''}
            className="detail-media-el"
            testId={output.kind === 'video' ? 'detail-video' : 'detail-image'}
          />
        </div>
        <div className="detail-info">
          <div className="detail-nav">
            <button
              type="button"
              className="btn btn-secondary btn-sm"
              onClick={onPrev}
              disabled={!onPrev}
              data-testid="detail-prev"
            >
              ← {t('gallery.prev')}
            </button>
            <button
              type="button"
              className="btn btn-secondary btn-sm"
              onClick={onNext}
              disabled={!onNext}
              data-testid="detail-next"
            >
              {t('gallery.next')} →
            </button>
            <span className="position" aria-live="polite">
              {t('gallery.position', {
                i: position.index + 1,
                n: position.more ? `${position.count}+` : position.count,
              })}
            </span>
          </div>
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
            <dd>{modelName(meta.model)}</dd>
            {size && (
              <>
                <dt>{t('gallery.size')}</dt>
                <dd>{size}</dd>
              </>
            )}
            {meta.duration_seconds != null && (
              <>
                <dt>{t('gallery.duration')}</dt>
                <dd>{t('create.seconds', { n: meta.duration_seconds })}</dd>
              </>
            )}
            {meta.seed != null && (
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
