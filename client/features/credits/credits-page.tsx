import { useInfiniteQuery, useQuery } from '@tanstack/react-query';
import type { inferRouterOutputs } from '@trpc/server';
import { lazy, Suspense, useEffect, useMemo } from 'react';
import { Link, useLocation } from 'react-router';
import type { AppRouter } from '../../../server/routers/index.ts';
import { useI18n, usePageTitle } from '../../i18n/index.tsx';
import { describeJob } from '../../lib/describe.ts';
import { formatDateTime, formatNumber, formatSigned, spentPerDay } from '../../lib/format.ts';
import { useTRPC } from '../../lib/trpc.ts';
import { ErrorNotice } from '../../ui/error-notice.tsx';
import { Empty, Loading, Spinner } from '../../ui/states.tsx';
import { TableCards, TableWrap } from '../../ui/table-wrap.tsx';
import { useModelName } from '../create/use-models.ts';
import { useBalance } from '../layout/app-shell.tsx';
import { RedeemForm } from './redeem-form.tsx';
import { spendSummary } from './spend-summary.ts';

const SpendChart = lazy(() => import('./spend-chart.tsx'));
const CHART_DAYS = 30;
const KINDS = ['signup_bonus', 'grant', 'charge', 'refund', 'redeem'] as const;
type LedgerKind = (typeof KINDS)[number];
const isKind = (kind: string): kind is LedgerKind => (KINDS as readonly string[]).includes(kind);

type LedgerRow = inferRouterOutputs<AppRouter>['credits']['history']['items'][number];

/** A ledger row in words, from its structured fields (the English note is for API users): links to the job. */
function LedgerWhat({ row }: { row: LedgerRow }) {
  const { t } = useI18n();
  const modelName = useModelName();
  if (row.job)
    return (
      <Link to={`/create#job-${row.job.id}`} title={t('ledger.openJob')} data-testid="ledger-job">
        {describeJob(row.job, t, modelName)}
      </Link>
    );
  if (row.kind === 'signup_bonus') return <>{t('ledger.bonus')}</>;
  if (row.kind === 'grant') return <>{t('ledger.grant')}</>;
  if (row.kind === 'redeem') return <>{t('ledger.redeem')}</>;
  return <>—</>;
}

function SpendCard() {
  const { t, locale } = useI18n();
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
          <SpendChart days={days} label={spendSummary(days, t, locale)} />
        </Suspense>
      )}
    </section>
  );
}

export default function CreditsPage() {
  const { t, locale } = useI18n();
  usePageTitle(t('credits.title'));
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
    <div className="page stack">
      <h1>{t('credits.title')}</h1>
      <div className="credits-top">
        <div className="stack">
          <section className="card">
            <h2>{t('credits.balance')}</h2>
            <p className="big-number" data-testid="credits-balance">
              {balance.data ? (
                formatNumber(balance.data.balance, locale)
              ) : balance.error ? (
                <span aria-hidden="true">—</span>
              ) : (
                <Spinner />
              )}
            </p>
            {balance.error && !history.error && <ErrorNotice error={balance.error} />}
          </section>
          <RedeemForm />
        </div>
        <SpendCard />
      </div>
      {/* Not a labelled section: the table's TableWrap is the region named "History". */}
      <section className="section">
        <h2>{t('credits.history')}</h2>
        {history.isPending ? (
          <Loading />
        ) : history.error ? (
          <ErrorNotice error={history.error} />
        ) : rows.length === 0 ? (
          <Empty>{t('credits.empty')}</Empty>
        ) : (
          <>
            <TableWrap label={t('credits.history')} cards>
              <table data-testid="credits-history">
                <thead>
                  <tr>
                    <th scope="col">{t('credits.date')}</th>
                    <th scope="col">{t('credits.kind')}</th>
                    <th scope="col">{t('ledger.details')}</th>
                    <th scope="col" className="num">
                      {t('credits.amount')}
                    </th>
                    <th scope="col" className="num">
                      {t('credits.balanceAfter')}
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {rows.map((row) => (
                    <tr key={row.id} data-testid="ledger-row">
                      <td>{formatDateTime(row.createdAt, locale)}</td>
                      <td>{isKind(row.kind) ? t(`credits.kind.${row.kind}`) : row.kind}</td>
                      <td className="ledger-what">
                        <LedgerWhat row={row} />
                      </td>
                      <td className={`num ${row.amount >= 0 ? 'amount-pos' : 'amount-neg'}`}>
                        {formatSigned(row.amount, locale)}
                      </td>
                      <td className="num">
                        {row.balanceAfter == null ? '—' : formatNumber(row.balanceAfter, locale)}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </TableWrap>
            <TableCards label={t('credits.history')} testId="ledger-cards">
              {rows.map((row) => (
                <li key={row.id} className="ledger-card">
                  <strong>{isKind(row.kind) ? t(`credits.kind.${row.kind}`) : row.kind}</strong>
                  <span className={row.amount >= 0 ? 'amount-pos' : 'amount-neg'}>
                    {formatSigned(row.amount, locale)}
                  </span>
                  <span className="what">
                    <LedgerWhat row={row} />
                  </span>
                  <span className="muted small">{formatDateTime(row.createdAt, locale)}</span>
                  <span className="muted small">
                    {row.balanceAfter == null
                      ? ''
                      : t('common.credits', { n: formatNumber(row.balanceAfter, locale) })}
                  </span>
                </li>
              ))}
            </TableCards>
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
    </div>
  );
}
