import { lazy, type ReactNode, Suspense } from 'react';
import { Link, Navigate, Route, Routes, useLocation } from 'react-router';
import { useMe } from './features/auth/use-me.ts';
import { CreatePage } from './features/create/create-page.tsx';
import { AppShell } from './features/layout/app-shell.tsx';
import { useI18n, usePageTitle } from './i18n/index.tsx';
import { Loading } from './ui/states.tsx';

// Pages off the first screen load on demand, keeping the initial bundle small.
// The sign-in page is only for signed-out visitors: most visits never need it.
const AuthPage = lazy(() => import('./features/auth/auth-page.tsx').then((m) => ({ default: m.AuthPage })));
const GalleryPage = lazy(() => import('./features/gallery/gallery-page.tsx'));
const CreditsPage = lazy(() => import('./features/credits/credits-page.tsx'));
const TokensPage = lazy(() => import('./features/tokens/tokens-page.tsx'));
const AdminPage = lazy(() => import('./features/admin/admin-page.tsx'));
const AccountPage = lazy(() => import('./features/account/account-page.tsx'));
const VerifyEmailPage = lazy(() => import('./features/account/verify-email-page.tsx'));
const ForgotPasswordPage = lazy(() =>
  import('./features/account/reset-pages.tsx').then((m) => ({ default: m.ForgotPasswordPage })),
);
const ResetPasswordPage = lazy(() =>
  import('./features/account/reset-pages.tsx').then((m) => ({ default: m.ResetPasswordPage })),
);
/** A page outside the signed-in shell, loaded on demand. */
const standalone = (page: ReactNode) => <Suspense fallback={<Loading />}>{page}</Suspense>;

function RequireAuth({ children, admin = false }: { children: ReactNode; admin?: boolean }) {
  const me = useMe();
  const location = useLocation();
  if (me.isPending) return <Loading />;
  const user = me.data?.user;
  if (!user) {
    const next = encodeURIComponent(location.pathname + location.search);
    return <Navigate to={`/signin?next=${next}`} replace />;
  }
  if (admin && user.role !== 'admin') return <Navigate to="/create" replace />;
  return <AppShell user={user}>{children}</AppShell>;
}

function NotFound() {
  const { t } = useI18n();
  usePageTitle(t('notFound.title'));
  return (
    <main className="page narrow">
      <h1>{t('notFound.title')}</h1>
      <Link to="/create" className="btn btn-primary">
        {t('notFound.back')}
      </Link>
    </main>
  );
}

const authed = (page: ReactNode, admin = false) => (
  <RequireAuth admin={admin}>
    <Suspense fallback={<Loading />}>{page}</Suspense>
  </RequireAuth>
);

export function App() {
  return (
    <Routes>
      <Route path="/signin" element={standalone(<AuthPage mode="signin" />)} />
      <Route path="/signup" element={standalone(<AuthPage mode="signup" />)} />
      <Route path="/forgot-password" element={standalone(<ForgotPasswordPage />)} />
      <Route path="/reset-password" element={standalone(<ResetPasswordPage />)} />
      <Route path="/verify-email" element={standalone(<VerifyEmailPage />)} />
      <Route path="/" element={<Navigate to="/create" replace />} />
      <Route path="/create" element={authed(<CreatePage />)} />
      <Route path="/gallery" element={authed(<GalleryPage />)} />
      <Route path="/credits" element={authed(<CreditsPage />)} />
      <Route path="/tokens" element={authed(<TokensPage />)} />
      <Route path="/account" element={authed(<AccountPage />)} />
      <Route path="/admin/*" element={authed(<AdminPage />, true)} />
      <Route path="*" element={<NotFound />} />
    </Routes>
  );
}
