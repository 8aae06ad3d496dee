import type { ReactNode } from 'react';
import { useI18n } from '../i18n/index.tsx';

export function Spinner({ label }: { label?: string }) {
  const { t } = useI18n();
  return (
    <span className="spinner-wrap" role="status">
      <span className="spinner" aria-hidden="true" />
      <span className="sr-only">{label ?? t('common.loading')}</span>
    </span>
  );
}

export function Loading() {
  const { t } = useI18n();
  return (
    <div className="state-loading" role="status" aria-live="polite">
      <span className="spinner" aria-hidden="true" /> {t('common.loading')}
    </div>
  );
}

export function Empty({ children, action }: { children: ReactNode; action?: ReactNode }) {
  return (
    <div className="state-empty">
      <p>{children}</p>
      {action}
    </div>
  );
}
