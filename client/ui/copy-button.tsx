import { useState } from 'react';
import { useI18n } from '../i18n/index.tsx';

export function CopyButton({
  text,
  className = 'btn btn-secondary btn-sm',
}: {
  text: string;
  className?: string;
}) {
  const { t } = useI18n();
  const [copied, setCopied] = useState(false);
  return (
    <>
      <button
        type="button"
        className={className}
        onClick={async () => {
          try {
            await navigator.clipboard.writeText(text);
            setCopied(true);
            setTimeout(() => setCopied(false), 2000);
          } catch {
            // Clipboard blocked (http, permissions): the text stays selectable on screen.
          }
        }}
      >
        {copied ? t('common.copied') : t('common.copy')}
      </button>
      {/* A screen reader hears that the copy worked: the button's new label alone is not announced. */}
      <span role="status" className="sr-only">
        {copied ? t('common.copied') : ''}
      </span>
    </>
  );
}
