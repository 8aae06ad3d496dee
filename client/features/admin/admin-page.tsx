import { Navigate, NavLink, Route, Routes } from 'react-router';
import { useI18n, usePageTitle } from '../../i18n/index.tsx';
import { AuditPanel } from './audit-panel.tsx';
import { CodesPanel } from './codes-panel.tsx';
import { JobsPanel } from './jobs-panel.tsx';
import { UsersPanel } from './users-panel.tsx';

export default function AdminPage() {
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
        <Route path="users" element={<UsersPanel />} />
        <Route path="codes" element={<CodesPanel />} />
        <Route path="jobs" element={<JobsPanel />} />
        <Route path="audit" element={<AuditPanel />} />
      </Routes>
    </div>
  );
}
