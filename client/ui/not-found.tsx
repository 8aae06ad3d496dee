import { Link } from 'react-router';
import { useI18n, usePageTitle } from '../i18n/index.tsx';

/** What an unknown address shows: a heading, a line, and the way back to Create. */
export function NotFoundText() {
  const { t } = useI18n();
  usePageTitle(t('notFound.title'));
  return (
    <>
      <h1>{t('notFound.title')}</h1>
      <p className="muted">{t('notFound.text')}</p>
      <Link to="/create" className="btn btn-primary">
        {t('notFound.back')}
      </Link>
    </>
  );
}
