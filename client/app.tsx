import { type ReactNode, Suspense, useEffect } from 'react';
import { Navigate, Route, Routes, useLocation } from 'react-router';
import { SPA_PATHS, SPA_PREFIXES, type SpaPath, type SpaPrefix } from '../shared/spa-routes.ts';
import { useMe } from './features/auth/use-me.ts';
import { AppShell } from './features/layout/app-shell.tsx';
import { useI18n, usePageTitle } from './i18n/index.tsx';
import { ErrorNotice } from './ui/error-notice.tsx';
import { LanguageSwitch } from './ui/language-switch.tsx';
import { lazyPage } from './ui/lazy-page.ts';
import { NotFoundText } from './ui/not-found.tsx';
import { Loading } from './ui/states.tsx';
import { ThemeSwitch } from './ui/theme-switch.tsx';

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
/**
 * The session check itself failed (server down, a proxy's error page): say so with a way to try again,
 * rather than sending a signed-in user to the sign-in page as if the session had ended.
 */
function SessionUnknown({ error, busy, retry }: { error: unknown; busy: boolean; retry: () => void }) {
  const { t } = useI18n();
  usePageTitle('');
  return (
    <main className="page narrow stack" data-testid="session-error">
      <h1 className="sr-only">{t('app.name')}</h1>
      <ErrorNotice error={error} />
      <div>
        <button type="button" className="btn btn-primary" onClick={retry} disabled={busy} aria-busy={busy}>
          {t('common.retry')}
        </button>
      </div>
    </main>
  );
}

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
  if (me.error && !me.data)
    return <SessionUnknown error={me.error} busy={me.isFetching} retry={() => void me.refetch()} />;
  const user = me.data?.user;
  if (!user) {
    const next = encodeURIComponent(location.pathname + location.search);
    return <Navigate to={`/signin?next=${next}`} replace />;
  }
  if (admin && user.role !== 'admin') return <Navigate to="/create" replace />;
  return <AppShell user={user}>{children}</AppShell>;
}

/** An unknown address: inside the shell (nav, language) when signed in, a page of its own otherwise. */
function NotFound() {
  const me = useMe();
  if (me.isPending) return <Loading />;
  const user = me.data?.user;
  if (!user)
    return (
      <main className="page narrow">
        {/* No header when signed out: the language and theme, as on the sign-in page. */}
        <div className="auth-top">
          <LanguageSwitch />
          <ThemeSwitch />
        </div>
        <NotFoundText />
      </main>
    );
  return (
    <AppShell user={user}>
      <div className="page narrow">
        <NotFoundText />
      </div>
    </AppShell>
  );
}

const authed = (Page: ReturnType<typeof lazyPage>, admin = false) => (
  <RequireAuth admin={admin} preload={Page.preload}>
    <Suspense fallback={<Loading />}>
      <Page />
    </Suspense>
  </RequireAuth>
);

/** The page at each of the SPA's paths: typed by the shared list, which the server answers 404 outside of. */
const PAGES = {
  '/signin': standalone(<AuthPage mode="signin" />),
  '/signup': standalone(<AuthPage mode="signup" />),
  '/forgot-password': standalone(<ForgotPasswordPage />),
  '/reset-password': standalone(<ResetPasswordPage />),
  '/verify-email': standalone(<VerifyEmailPage />),
  '/': <Navigate to="/create" replace />,
  '/create': authed(CreatePage),
  '/gallery': authed(GalleryPage),
  '/credits': authed(CreditsPage),
  '/tokens': authed(TokensPage),
  '/account': authed(AccountPage),
} satisfies Record<SpaPath, ReactNode>;

/** The sections that route their own pages below the prefix. */
const SECTIONS = {
  '/admin': authed(AdminPage, true),
} satisfies Record<SpaPrefix, ReactNode>;

export function App() {
  return (
    <Routes>
      {SPA_PATHS.map((path) => (
        <Route key={path} path={path} element={PAGES[path]} />
      ))}
      {SPA_PREFIXES.map((prefix) => (
        <Route key={prefix} path={`${prefix}/*`} element={SECTIONS[prefix]} />
      ))}
      <Route path="*" element={<NotFound />} />
    </Routes>
  );
}
