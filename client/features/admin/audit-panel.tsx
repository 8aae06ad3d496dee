import { useInfiniteQuery } from '@tanstack/react-query';
import type { inferRouterOutputs } from '@trpc/server';
import { useState } from 'react';
import type { AppRouter } from '../../../server/routers/index.ts';
import { useI18n } from '../../i18n/index.tsx';
import { formatDateTime, formatNumber } from '../../lib/format.ts';
import { useTRPC } from '../../lib/trpc.ts';
import { ErrorNotice } from '../../ui/error-notice.tsx';
import { Empty, Loading } from '../../ui/states.tsx';
import { RowCard, TableCards, TableWrap } from '../../ui/table-wrap.tsx';

const ACTIONS = [
  'signin.ok',
  'signin.failed',
  'signup',
  'email.verified',
  'password.changed',
  'password.reset',
  'sessions.revoked',
  'admin.granted',
  'admin.revoked',
  'codes.created',
  'credits.granted',
  'token.created',
] as const;
type Action = (typeof ACTIONS)[number];
const isAction = (a: string): a is Action => (ACTIONS as readonly string[]).includes(a);

/** Security events, newest first, filtered by action, paged with "load more". */
export function AuditPanel() {
  const { t, locale } = useI18n();
  const trpc = useTRPC();
  const [action, setAction] = useState('');
  const events = useInfiniteQuery(
    trpc.admin.audit.list.infiniteQueryOptions(
      { limit: 50, ...(action ? { action } : {}) },
      { getNextPageParam: (page) => page.nextCursor ?? undefined },
    ),
  );
  const items = events.data?.pages.flatMap((p) => p.items) ?? [];
  // Each event's cells, shown as a table row on wide screens and as a card on a phone.
  const cells = items.map((event) => ({
    event,
    when: formatDateTime(new Date(event.createdAt), locale),
    action: isAction(event.action) ? t(`audit.do.${event.action}`) : <code>{event.action}</code>,
    actor: event.actorEmail ?? t('common.none'),
    subject: event.subject ?? t('common.none'),
    ip: event.ip ?? t('common.none'),
  }));
  return (
    // Not a labelled section: the table's TableWrap is the region named "Audit log".
    <div className="stack">
      <h2>{t('admin.audit')}</h2>
      <label className="field">
        <span className="field-label">{t('audit.filter')}</span>
        <select value={action} onChange={(e) => setAction(e.target.value)}>
          <option value="">{t('audit.all')}</option>
          {ACTIONS.map((a) => (
            <option key={a} value={a}>
              {t(`audit.do.${a}`)}
            </option>
          ))}
        </select>
      </label>
      {events.isPending ? (
        <Loading />
      ) : events.error ? (
        <ErrorNotice error={events.error} />
      ) : items.length === 0 ? (
        <Empty>{t('audit.empty')}</Empty>
      ) : (
        <>
          <TableWrap label={t('admin.audit')} cards>
            <table data-testid="audit-table">
              <thead>
                <tr>
                  <th scope="col">{t('audit.when')}</th>
                  <th scope="col">{t('audit.action')}</th>
                  <th scope="col">{t('audit.actor')}</th>
                  <th scope="col">{t('audit.subject')}</th>
                  <th scope="col">{t('audit.ip')}</th>
                  <th scope="col">{t('audit.detail')}</th>
                </tr>
              </thead>
              <tbody>
                {cells.map((row) => (
                  <tr key={row.event.id}>
                    <td>{row.when}</td>
                    <td>{row.action}</td>
                    <td>{row.actor}</td>
                    <td className="mono">{row.subject}</td>
                    <td className="mono">{row.ip}</td>
                    <td className="wrap">
                      <Details event={row.event} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </TableWrap>
          <TableCards label={t('admin.audit')} testId="audit-cards">
            {cells.map((row) => (
              <RowCard
                key={row.event.id}
                title={row.action}
                fields={[
                  { label: t('audit.when'), value: row.when },
                  { label: t('audit.ip'), value: <span className="mono">{row.ip}</span> },
                  { label: t('audit.actor'), value: row.actor, wide: true },
                  {
                    label: t('audit.subject'),
                    value: <span className="mono">{row.subject}</span>,
                    wide: true,
                  },
                  ...(row.event.details || row.event.detail
                    ? [{ label: t('audit.detail'), value: <Details event={row.event} />, wide: true }]
                    : []),
                ]}
              />
            ))}
          </TableCards>
        </>
      )}
      {events.hasNextPage && (
        <button
          type="button"
          className="btn btn-ghost"
          onClick={() => void events.fetchNextPage()}
          disabled={events.isFetchingNextPage}
        >
          {t('common.loadMore')}
        </button>
      )}
    </div>
  );
}

type AuditItem = inferRouterOutputs<AppRouter>['admin']['audit']['list']['items'][number];

/** An event's particulars in the page's language; a text the server does not describe as data is shown as stored. */
function Details({ event }: { event: AuditItem }) {
  const { t, locale } = useI18n();
  const d = event.details;
  if (!d) return event.detail ? <code>{event.detail}</code> : null;
  switch (d.kind) {
    case 'credits':
      return <>{t('audit.detail.credits', { n: formatNumber(d.credits, locale) })}</>;
    case 'codes':
      return (
        <>
          {t('audit.detail.codes', {
            count: formatNumber(d.count, locale),
            credits: formatNumber(d.credits, locale),
          })}
        </>
      );
    case 'token':
      return (
        <>
          {t(d.scope === 'admin' ? 'audit.detail.scopeAdmin' : 'audit.detail.scopeUser')}
          {d.expiresAt &&
            ` · ${t('audit.detail.expires', { date: formatDateTime(new Date(d.expiresAt), locale) })}`}
        </>
      );
    case 'cli':
      return (
        <>
          {t('audit.detail.cli')} <code>npm run admin</code>
        </>
      );
  }
}
