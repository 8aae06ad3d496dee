import type { ReactNode } from 'react';
import { Navigate, NavLink, Route, Routes, useLocation } from 'react-router';
import { isSpaPath, SPA_SECTIONS, type SpaSectionPage } from '../../../shared/spa-routes.ts';
import { useI18n, usePageTitle } from '../../i18n/index.tsx';
import { NotFoundText } from '../../ui/not-found.tsx';
import { AuditPanel } from './audit-panel.tsx';
import { CodesPanel } from './codes-panel.tsx';
import { JobsPanel } from './jobs-panel.tsx';
import { UsersPanel } from './users-panel.tsx';

/** A panel for each page of the admin section: the server knows the same list (shared/spa-routes.ts). */
const PANELS = {
  users: <UsersPanel />,
  codes: <CodesPanel />,
  jobs: <JobsPanel />,
  audit: <AuditPanel />,
} satisfies Record<SpaSectionPage<'/admin'>, ReactNode>;

/** The admin section; an address below it that is none of its pages is a 404, as the server answers it. */
export default function AdminPage() {
  const { pathname } = useLocation();
  if (!isSpaPath(pathname))
    return (
      <div className="page narrow">
        <NotFoundText />
      </div>
    );
  return <AdminSection />;
}

function AdminSection() {
  const { t } = useI18n();
  usePageTitle(t('admin.title'));
  return (
    <div className="page">
      <h1>{t('admin.title')}</h1>
      <nav className="subnav" aria-label={t('admin.title')}>
        <NavLink to="/admin/users">{t('admin.users')}</NavLink>
        <NavLink to="/admin/codes">{t('admin.codes')}</NavLink>
        <NavLink to="/admin/jobs">{t('admin.jobs')}</NavLink>
        <NavLink to="/admin/audit">{t('admin.audit')}</NavLink>
      </nav>
      <Routes>
        <Route index element={<Navigate to="users" replace />} />
        {SPA_SECTIONS['/admin'].map((page) => (
          <Route key={page} path={page} element={PANELS[page]} />
        ))}
      </Routes>
    </div>
  );
}
