import { useInfiniteQuery, useMutation, useQueryClient } from '@tanstack/react-query';
import { type FormEvent, useDeferredValue, useEffect, useRef, useState } from 'react';
import { useI18n } from '../../i18n/index.tsx';
import { describeError } from '../../lib/errors.ts';
import { formatDate, formatNumber } from '../../lib/format.ts';
import { useTRPC } from '../../lib/trpc.ts';
import { ErrorNotice } from '../../ui/error-notice.tsx';
import { Empty, Loading } from '../../ui/states.tsx';
import { SubmitButton } from '../../ui/submit-button.tsx';
import { RowCard, TableCards, TableWrap } from '../../ui/table-wrap.tsx';

/** `focusRequest` > 0: a row's Grant was pressed (again), so the amount is what to type next. */
function GrantForm({ initialEmail, focusRequest }: { initialEmail: string; focusRequest: number }) {
  const { t, locale } = useI18n();
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [email, setEmail] = useState(initialEmail);
  const [amount, setAmount] = useState('');
  const [note, setNote] = useState('');
  const amountRef = useRef<HTMLInputElement>(null);
  useEffect(() => {
    const input = amountRef.current;
    if (!focusRequest || !input) return;
    input.focus({ preventScroll: true });
    input.scrollIntoView({ block: 'center' });
  }, [focusRequest]);
  const grant = useMutation(
    trpc.admin.credits.grant.mutationOptions({
      onSuccess: () => {
        setAmount('');
        setNote('');
        void queryClient.invalidateQueries(trpc.admin.users.pathFilter());
        void queryClient.invalidateQueries(trpc.credits.pathFilter());
      },
    }),
  );
  const fieldErrors = grant.error ? (describeError(grant.error, t).fieldErrors ?? {}) : {};
  const submit = (event: FormEvent) => {
    event.preventDefault();
    grant.mutate({ email, amount: Number(amount), note });
  };
  return (
    <form className="card stack" onSubmit={submit} aria-labelledby="grant-title" noValidate>
      <h2 id="grant-title">{t('admin.grant')}</h2>
      <div className="inline-form">
        <label className="field">
          <span className="field-label">{t('admin.email')}</span>
          <input
            type="email"
            required
            value={email}
            onChange={(e) => setEmail(e.target.value)}
            aria-invalid={fieldErrors.email ? true : undefined}
          />
          {fieldErrors.email && <span className="field-error">{fieldErrors.email}</span>}
        </label>
        <label className="field">
          <span className="field-label">{t('admin.amount')}</span>
          <input
            ref={amountRef}
            type="number"
            inputMode="numeric"
            required
            min={1}
            step={1}
            value={amount}
            onChange={(e) => setAmount(e.target.value)}
            aria-invalid={fieldErrors.amount ? true : undefined}
          />
          {fieldErrors.amount && <span className="field-error">{fieldErrors.amount}</span>}
        </label>
        <label className="field">
          <span className="field-label">{t('admin.note')}</span>
          <input
            value={note}
            maxLength={500}
            onChange={(e) => setNote(e.target.value)}
            aria-invalid={fieldErrors.note ? true : undefined}
          />
          {fieldErrors.note && <span className="field-error">{fieldErrors.note}</span>}
        </label>
        <SubmitButton className="btn btn-primary" busy={grant.isPending} disabled={!email || !amount}>
          {t('admin.grantTo')}
        </SubmitButton>
      </div>
      {grant.data && (
        <p className="notice notice-success" role="status">
          {t('admin.granted', { balance: formatNumber(grant.data.balance, locale) })}
        </p>
      )}
      {grant.error && !Object.keys(fieldErrors).length && <ErrorNotice error={grant.error} />}
    </form>
  );
}

export function UsersPanel() {
  const { t, locale } = useI18n();
  const trpc = useTRPC();
  const [search, setSearch] = useState('');
  const [grantTo, setGrantTo] = useState({ email: '', request: 0 });
  const deferred = useDeferredValue(search.trim());
  const users = useInfiniteQuery(
    trpc.admin.users.list.infiniteQueryOptions(
      { limit: 50, search: deferred || undefined },
      { getNextPageParam: (last) => last.nextCursor ?? undefined },
    ),
  );
  const rows = users.data?.pages.flatMap((p) => p.items) ?? [];
  // Each user's cells, shown as a table row on wide screens and as a card on a phone.
  const cells = rows.map((user) => ({
    user,
    role: (
      <span className={user.role === 'admin' ? 'badge badge-admin' : 'badge'}>{t(`role.${user.role}`)}</span>
    ),
    balance: formatNumber(user.creditBalance, locale),
    joined: formatDate(user.createdAt, locale),
    grant: (
      <button
        type="button"
        className="btn btn-ghost btn-sm"
        aria-label={t('admin.grantToUser', { email: user.email })}
        onClick={() => setGrantTo((g) => ({ email: user.email, request: g.request + 1 }))}
      >
        {t('admin.grantTo')}
      </button>
    ),
  }));
  return (
    <div className="stack">
      <GrantForm key={grantTo.email} initialEmail={grantTo.email} focusRequest={grantTo.request} />
      <label className="field" style={{ maxWidth: 360 }}>
        <span className="sr-only">{t('admin.search')}</span>
        <input
          type="search"
          placeholder={t('admin.search')}
          value={search}
          onChange={(e) => setSearch(e.target.value)}
        />
      </label>
      {users.isPending ? (
        <Loading />
      ) : users.error ? (
        <ErrorNotice error={users.error} />
      ) : rows.length === 0 ? (
        <Empty>{t('admin.noUsers')}</Empty>
      ) : (
        <>
          <TableWrap label={t('admin.users')} cards>
            <table data-testid="admin-users">
              <thead>
                <tr>
                  <th scope="col">{t('admin.email')}</th>
                  <th scope="col">{t('admin.role')}</th>
                  <th scope="col" className="num">
                    {t('admin.balance')}
                  </th>
                  <th scope="col">{t('admin.joined')}</th>
                  <th scope="col">
                    <span className="sr-only">{t('admin.grant')}</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {cells.map((row) => (
                  <tr key={row.user.id}>
                    <td>{row.user.email}</td>
                    <td>{row.role}</td>
                    <td className="num">{row.balance}</td>
                    <td>{row.joined}</td>
                    <td className="num">{row.grant}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </TableWrap>
          <TableCards label={t('admin.users')} testId="admin-users-cards">
            {cells.map((row) => (
              <RowCard
                key={row.user.id}
                testId="user-card"
                title={row.user.email}
                badge={row.role}
                fields={[
                  { label: t('admin.balance'), value: row.balance },
                  { label: t('admin.joined'), value: row.joined },
                ]}
                actions={row.grant}
              />
            ))}
          </TableCards>
        </>
      )}
      {users.hasNextPage && (
        <div className="list-end">
          <button type="button" className="btn btn-secondary" onClick={() => void users.fetchNextPage()}>
            {t('common.loadMore')}
          </button>
        </div>
      )}
    </div>
  );
}
