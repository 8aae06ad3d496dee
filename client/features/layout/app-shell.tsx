import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { type ReactNode, useEffect, useRef } from 'react';
import { Link, NavLink, useLocation, useNavigate } from 'react-router';
import type { UserView } from '../../../shared/schemas/auth.ts';
import { useI18n } from '../../i18n/index.tsx';
import { formatNumber } from '../../lib/format.ts';
import { useTRPC } from '../../lib/trpc.ts';
import { LanguageSwitch } from '../../ui/language-switch.tsx';
import { ThemeSwitch } from '../../ui/theme-switch.tsx';

export function useBalance() {
  const trpc = useTRPC();
  return useQuery({ ...trpc.credits.balance.queryOptions(), staleTime: 5_000 });
}

function Logo() {
  const { t } = useI18n();
  return (
    <Link to="/create" className="logo" aria-label={t('app.name')}>
      <svg viewBox="0 0 32 32" width="28" height="28" aria-hidden="true">
        <rect width="32" height="32" rx="8" fill="var(--accent)" />
        <path d="M9 22l5-8 4 5 2-3 3 6z" fill="#fff" />
        <circle cx="21" cy="11" r="2.5" fill="#ffd166" />
      </svg>
      <span className="logo-text">{t('app.name')}</span>
    </Link>
  );
}

export function AppShell({ user, children }: { user: UserView; children: ReactNode }) {
  const { t, locale } = useI18n();
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const navigate = useNavigate();
  const balance = useBalance();
  const { pathname } = useLocation();
  const navRef = useRef<HTMLElement>(null);
  // On a phone the nav scrolls sideways: keep the current page's link in sight (the nav alone is scrolled;
  // scrollIntoView could move the page too).
  useEffect(() => {
    const nav = navRef.current;
    const active = nav?.querySelector('.active')?.getBoundingClientRect();
    if (!nav || !active) return;
    const box = nav.getBoundingClientRect();
    if (active.right > box.right) nav.scrollLeft += active.right - box.right;
    else if (active.left < box.left) nav.scrollLeft -= box.left - active.left;
  }, [pathname]);
  const signOut = useMutation(
    trpc.auth.signOut.mutationOptions({
      onSettled: () => {
        queryClient.clear();
        navigate('/signin', { replace: true });
      },
    }),
  );
  const shown = balance.data?.balance ?? user.creditBalance;
  const balanceText = t('nav.balance', { balance: formatNumber(shown, locale) });
  // The words around the number in this language ("{balance} credits", "{balance} 积分").
  const [balanceBefore = '', balanceAfter = ''] = t('nav.balance', { balance: '\u0000' }).split('\u0000');
  const links = [
    { to: '/create', label: t('nav.create') },
    { to: '/gallery', label: t('nav.gallery') },
    { to: '/credits', label: t('nav.credits') },
    { to: '/tokens', label: t('nav.tokens') },
    { to: '/account', label: t('nav.account') },
    ...(user.role === 'admin' ? [{ to: '/admin', label: t('nav.admin') }] : []),
  ];
  return (
    <div className="shell">
      <a href="#main" className="skip-link">
        {t('nav.skip')}
      </a>
      <header className="header">
        <div className="header-inner">
          <Logo />
          <nav className="nav" aria-label={t('nav.menu')} ref={navRef}>
            {links.map((link) => (
              <NavLink key={link.to} to={link.to} className="nav-link">
                {link.label}
              </NavLink>
            ))}
          </nav>
          <div className="header-tools">
            <Link
              to="/credits"
              className="balance-pill"
              data-testid="header-balance"
              title={user.email}
              aria-label={balanceText}
            >
              <span aria-hidden="true">◆</span> {balanceBefore}
              {formatNumber(shown, locale)}
              {/* The unit gives way on a narrow phone, so a five-digit balance does not push Sign out to a second row. */}
              <span className="balance-unit">{balanceAfter}</span>
            </Link>
            <LanguageSwitch />
            <ThemeSwitch />
            <button
              type="button"
              className="btn btn-ghost btn-sm"
              onClick={() => signOut.mutate()}
              disabled={signOut.isPending}
            >
              {t('nav.signOut')}
            </button>
          </div>
        </div>
      </header>
      {/* The one main landmark of a signed-in page; focusable, so the skip link moves focus here, not to <body>. */}
      <main id="main" className="main" tabIndex={-1}>
        {children}
      </main>
    </div>
  );
}
