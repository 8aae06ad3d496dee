import { useInfiniteQuery } from '@tanstack/react-query';
import { useState } from 'react';
import type { JobStatus } from '../../../shared/schemas/generation.ts';
import { useI18n } from '../../i18n/index.tsx';
import { describeJobError } from '../../lib/errors.ts';
import { formatDateTime } from '../../lib/format.ts';
import { useTRPC } from '../../lib/trpc.ts';
import { ErrorNotice } from '../../ui/error-notice.tsx';
import { Empty, Loading } from '../../ui/states.tsx';
import { RowCard, TableCards, TableWrap } from '../../ui/table-wrap.tsx';
import { useModelName } from '../create/use-models.ts';

const STATUSES: JobStatus[] = ['queued', 'running', 'succeeded', 'failed', 'canceled'];

export function JobsPanel() {
  const { t, locale } = useI18n();
  const modelName = useModelName();
  const trpc = useTRPC();
  const [status, setStatus] = useState<JobStatus | ''>('');
  const jobs = useInfiniteQuery(
    trpc.admin.jobs.list.infiniteQueryOptions(
      { limit: 50, status: status || undefined },
      { getNextPageParam: (last) => last.nextCursor ?? undefined },
    ),
  );
  const rows = jobs.data?.pages.flatMap((p) => p.items) ?? [];
  // Each job's cells, shown as a table row on wide screens and as a card on a phone.
  const cells = rows.map((job) => ({
    job,
    created: formatDateTime(job.createdAt, locale),
    status: <span className={`badge badge-${job.status}`}>{t(`job.status.${job.status}`)}</span>,
    model: (
      <>
        {modelName(job.model)} <span className="muted small">({t(`kind.${job.kind}`)})</span>
      </>
    ),
    cost: (
      <>
        {job.cost}
        {job.refunded > 0 && <span className="muted small"> (−{job.refunded})</span>}
      </>
    ),
    reason: job.error && (
      <>
        {t(describeJobError(job.error).messageKey)}{' '}
        <code className="muted small" title={job.error.message}>
          {job.error.code}
        </code>
      </>
    ),
  }));
  return (
    <div className="stack">
      <label className="field" style={{ maxWidth: 240 }}>
        <span className="field-label">{t('admin.status')}</span>
        <select value={status} onChange={(e) => setStatus(e.target.value as JobStatus | '')}>
          <option value="">{t('admin.allStatuses')}</option>
          {STATUSES.map((s) => (
            <option key={s} value={s}>
              {t(`job.status.${s}`)}
            </option>
          ))}
        </select>
      </label>
      {jobs.isPending ? (
        <Loading />
      ) : jobs.error ? (
        <ErrorNotice error={jobs.error} />
      ) : rows.length === 0 ? (
        <Empty>{t('admin.noJobs')}</Empty>
      ) : (
        <>
          <TableWrap label={t('admin.jobs')} cards>
            <table data-testid="admin-jobs">
              <thead>
                <tr>
                  <th scope="col">{t('admin.created')}</th>
                  <th scope="col">{t('admin.user')}</th>
                  <th scope="col">{t('admin.status')}</th>
                  <th scope="col">{t('admin.model')}</th>
                  <th scope="col" className="num">
                    {t('admin.cost')}
                  </th>
                  <th scope="col">{t('admin.reason')}</th>
                </tr>
              </thead>
              <tbody>
                {cells.map((row) => (
                  <tr key={row.job.id}>
                    <td>{row.created}</td>
                    <td>{row.job.userEmail}</td>
                    <td>{row.status}</td>
                    <td>{row.model}</td>
                    <td className="num">{row.cost}</td>
                    <td className="wrap">{row.reason ?? '—'}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </TableWrap>
          <TableCards label={t('admin.jobs')} testId="admin-jobs-cards">
            {cells.map((row) => (
              <RowCard
                key={row.job.id}
                testId="job-card"
                title={row.model}
                badge={row.status}
                fields={[
                  { label: t('admin.user'), value: row.job.userEmail, wide: true },
                  { label: t('admin.created'), value: row.created },
                  { label: t('admin.cost'), value: row.cost },
                  ...(row.reason ? [{ label: t('admin.reason'), value: row.reason, wide: true }] : []),
                ]}
              />
            ))}
          </TableCards>
        </>
      )}
      {jobs.hasNextPage && (
        <div className="list-end">
          <button type="button" className="btn btn-secondary" onClick={() => void jobs.fetchNextPage()}>
            {t('common.loadMore')}
          </button>
        </div>
      )}
    </div>
  );
}
