import { useInfiniteQuery, useQuery } from '@tanstack/react-query';
import { lazy, Suspense, useEffect, useMemo } from 'react';
import { useLocation } from 'react-router';
import { useI18n } from '../../i18n/index.tsx';
import { formatDateTime, formatNumber, formatSigned, spentPerDay } from '../../lib/format.ts';
import { useTRPC } from '../../lib/trpc.ts';
import { ErrorNotice } from '../../ui/error-notice.tsx';
import { Empty, Loading, Spinner } from '../../ui/states.tsx';
import { useBalance } from '../layout/app-shell.tsx';
import { RedeemForm } from './redeem-form.tsx';

const SpendChart = lazy(() => import('./spend-chart.tsx'));
const CHART_DAYS = 30;
const KINDS = ['signup_bonus', 'grant', 'charge', 'refund', 'redeem'] as const;
type LedgerKind = (typeof KINDS)[number];
const isKind = (kind: string): kind is LedgerKind => (KINDS as readonly string[]).includes(kind);

function SpendCard() {
  const { t } = useI18n();
  const trpc = useTRPC();
  // The chart reads the latest 100 movements: a month of normal use.
  const recent = useQuery(trpc.credits.history.queryOptions({ limit: 100 }));
  const days = useMemo(() => spentPerDay(recent.data?.items ?? [], CHART_DAYS), [recent.data]);
  const total = days.reduce((sum, d) => sum + d.spent, 0);
  return (
    <section className="card" aria-labelledby="chart-title">
      <h2 id="chart-title">{t('credits.chart')}</h2>
      {recent.isPending ? (
        <div className="chart-box skeleton" />
      ) : recent.error ? (
        <ErrorNotice error={recent.error} />
      ) : total === 0 ? (
        <p className="muted chart-box" style={{ display: 'grid', placeItems: 'center' }}>
          {t('credits.chartEmpty')}
        </p>
      ) : (
        <Suspense fallback={<div className="chart-box skeleton" />}>
          <SpendChart days={days} label={t('credits.chart')} />
        </Suspense>
      )}
    </section>
  );
}

export default function CreditsPage() {
  const { t, locale } = useI18n();
  const trpc = useTRPC();
  const balance = useBalance();
  const location = useLocation();
  const history = useInfiniteQuery(
    trpc.credits.history.infiniteQueryOptions(
      { limit: 20 },
      { getNextPageParam: (last) => last.nextCursor ?? undefined },
    ),
  );
  const rows = history.data?.pages.flatMap((p) => p.items) ?? [];

  // The "Redeem a code" links from error messages point at #redeem.
  useEffect(() => {
    if (location.hash === '#redeem') {
      const input = document.getElementById('redeem-code');
      input?.scrollIntoView({ block: 'center' });
      input?.focus();
    }
  }, [location.hash]);

  return (
    <main className="page stack">
      <h1>{t('credits.title')}</h1>
      <div className="credits-top">
        <div className="stack">
          <section className="card">
            <h2>{t('credits.balance')}</h2>
            <p className="big-number" data-testid="credits-balance">
              {balance.data ? formatNumber(balance.data.balance, locale) : <Spinner />}
            </p>
          </section>
          <RedeemForm />
        </div>
        <SpendCard />
      </div>
      <section aria-labelledby="history-title" className="section">
        <h2 id="history-title">{t('credits.history')}</h2>
        {history.isPending ? (
          <Loading />
        ) : history.error ? (
          <ErrorNotice error={history.error} />
        ) : rows.length === 0 ? (
          <Empty>{t('credits.empty')}</Empty>
        ) : (
          <>
            <div className="table-wrap">
              <table data-testid="credits-history">
                <thead>
                  <tr>
                    <th scope="col">{t('credits.date')}</th>
                    <th scope="col">{t('credits.kind')}</th>
                    <th scope="col" className="num">
                      {t('credits.amount')}
                    </th>
                    <th scope="col" className="num">
                      {t('credits.balanceAfter')}
                    </th>
                    <th scope="col">{t('credits.note')}</th>
                  </tr>
                </thead>
                <tbody>
                  {rows.map((row) => (
                    <tr key={row.id}>
                      <td>{formatDateTime(row.createdAt, locale)}</td>
                      <td>{isKind(row.kind) ? t(`credits.kind.${row.kind}`) : row.kind}</td>
                      <td className={`num ${row.amount >= 0 ? 'amount-pos' : 'amount-neg'}`}>
                        {formatSigned(row.amount, locale)}
                      </td>
                      <td className="num">
                        {row.balanceAfter == null ? '—' : formatNumber(row.balanceAfter, locale)}
                      </td>
                      <td className="wrap muted">{row.note || '—'}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
            {history.hasNextPage && (
              <div className="list-end">
                <button
                  type="button"
                  className="btn btn-secondary"
                  onClick={() => void history.fetchNextPage()}
                  disabled={history.isFetchingNextPage}
                >
                  {t('common.loadMore')}
                </button>
              </div>
            )}
          </>
        )}
      </section>
    </main>
  );
}
