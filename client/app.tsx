import { type ReactNode, Suspense, useEffect } from 'react';
import { Link, Navigate, Route, Routes, useLocation } from 'react-router';
import { useMe } from './features/auth/use-me.ts';
import { AppShell } from './features/layout/app-shell.tsx';
import { useI18n, usePageTitle } from './i18n/index.tsx';
import { lazyPage } from './ui/lazy-page.ts';
import { Loading } from './ui/states.tsx';

// Every page is its own chunk with its part of the dictionary: the first render (the session check) needs
// none of them, and a visit downloads only the page it shows. A signed-in page's chunk is fetched while
// the session is checked.
const CreatePage = lazyPage(
  () => import('./features/create/create-page.tsx').then((m) => m.CreatePage),
  ['create'],
);
const AuthPage = lazyPage(() => import('./features/auth/auth-page.tsx').then((m) => m.AuthPage), ['account']);
const GalleryPage = lazyPage(
  () => import('./features/gallery/gallery-page.tsx').then((m) => m.default),
  ['gallery'],
);
const CreditsPage = lazyPage(
  () => import('./features/credits/credits-page.tsx').then((m) => m.default),
  ['credits'],
);
const TokensPage = lazyPage(
  () => import('./features/tokens/tokens-page.tsx').then((m) => m.default),
  ['tokens'],
);
const AdminPage = lazyPage(() => import('./features/admin/admin-page.tsx').then((m) => m.default), ['admin']);
const AccountPage = lazyPage(
  () => import('./features/account/account-page.tsx').then((m) => m.default),
  ['account'],
);
const VerifyEmailPage = lazyPage(
  () => import('./features/account/verify-email-page.tsx').then((m) => m.default),
  ['account'],
);
const ForgotPasswordPage = lazyPage(
  () => import('./features/account/reset-pages.tsx').then((m) => m.ForgotPasswordPage),
  ['account'],
);
const ResetPasswordPage = lazyPage(
  () => import('./features/account/reset-pages.tsx').then((m) => m.ResetPasswordPage),
  ['account'],
);
/** A page outside the signed-in shell, loaded on demand. */
const standalone = (page: ReactNode) => <Suspense fallback={<Loading />}>{page}</Suspense>;

function RequireAuth({
  children,
  admin = false,
  preload,
}: {
  children: ReactNode;
  admin?: boolean;
  /** Starts the page's chunk now, beside the session check (a failure shows when the page renders). */
  preload: () => Promise<unknown>;
}) {
  const me = useMe();
  const location = useLocation();
  useEffect(() => {
    preload().catch(() => {});
  }, [preload]);
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

const authed = (Page: ReturnType<typeof lazyPage>, admin = false) => (
  <RequireAuth admin={admin} preload={Page.preload}>
    <Suspense fallback={<Loading />}>
      <Page />
    </Suspense>
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
      <Route path="/create" element={authed(CreatePage)} />
      <Route path="/gallery" element={authed(GalleryPage)} />
      <Route path="/credits" element={authed(CreditsPage)} />
      <Route path="/tokens" element={authed(TokensPage)} />
      <Route path="/account" element={authed(AccountPage)} />
      <Route path="/admin/*" element={authed(AdminPage, true)} />
      <Route path="*" element={<NotFound />} />
    </Routes>
  );
}
