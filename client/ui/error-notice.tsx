import { Link } from 'react-router';
import { useI18n } from '../i18n/index.tsx';
import { describeError, type ErrorInfo } from '../lib/errors.ts';

/**
 * An error in plain words with the next step (a link or a hint). Pass a thrown error or a described one.
 * `quiet` drops role=alert (a failed job in a list is history, not news to announce).
 */
export function ErrorNotice({
  error,
  info: given,
  quiet,
}: {
  error?: unknown;
  info?: ErrorInfo;
  quiet?: boolean;
}) {
  const { t } = useI18n();
  if (!given && !error) return null;
  const info = given ?? describeError(error, t);
  return (
    <div className="notice notice-error" role={quiet ? undefined : 'alert'} data-app-code={info.code}>
      <p className="notice-title">{info.title ?? t(info.messageKey)}</p>
      {info.detail && <p className="notice-detail">{info.detail}</p>}
      {info.hintKey && <p>{t(info.hintKey)}</p>}
      {info.action && (
        <p>
          <Link to={info.action.to} className="notice-action">
            {t(info.action.key)} →
          </Link>
        </p>
      )}
      {info.jobId && <p className="muted small mono">{t('error.jobId', { id: info.jobId })}</p>}
    </div>
  );
}
