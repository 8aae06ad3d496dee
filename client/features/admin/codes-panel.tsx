import { useInfiniteQuery, useMutation, useQueryClient } from '@tanstack/react-query';
import { type FormEvent, useState } from 'react';
import { useI18n } from '../../i18n/index.tsx';
import { describeError } from '../../lib/errors.ts';
import { formatDate, formatDateTime } from '../../lib/format.ts';
import { useTRPC } from '../../lib/trpc.ts';
import { ConfirmDialog } from '../../ui/confirm-dialog.tsx';
import { ErrorNotice } from '../../ui/error-notice.tsx';
import { Empty, Loading } from '../../ui/states.tsx';
import { SubmitButton } from '../../ui/submit-button.tsx';
import { RowCard, TableCards, TableWrap } from '../../ui/table-wrap.tsx';

/** Saves text as a file in the browser (the codes exist in plaintext only in this response). */
export function downloadText(filename: string, text: string, type = 'text/csv;charset=utf-8') {
  // A BOM so Excel opens UTF-8 CSV (notes may be Chinese) correctly.
  const blob = new Blob(['\uFEFF', text], { type });
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

function NewBatchForm() {
  const { t } = useI18n();
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [credits, setCredits] = useState('50');
  const [count, setCount] = useState('10');
  const [maxRedemptions, setMaxRedemptions] = useState('1');
  const [expiresAt, setExpiresAt] = useState('');
  const [note, setNote] = useState('');
  const create = useMutation(
    trpc.admin.codes.create.mutationOptions({
      onSuccess: () => void queryClient.invalidateQueries(trpc.admin.codes.pathFilter()),
    }),
  );
  const fieldErrors = create.error ? (describeError(create.error, t).fieldErrors ?? {}) : {};
  const submit = (event: FormEvent) => {
    event.preventDefault();
    create.mutate({
      credits: Number(credits),
      count: Number(count),
      // Empty is the default (1); anything else goes as typed, so the server can refuse 0.
      maxRedemptions: maxRedemptions.trim() ? Number(maxRedemptions) : undefined,
      expiresAt: expiresAt ? new Date(expiresAt) : undefined,
      note: note.trim() || undefined,
    });
  };
  const csvName = create.data ? `codes-${create.data.batchId}.csv` : '';
  return (
    <form className="card stack" onSubmit={submit} aria-labelledby="batch-title" noValidate>
      <h2 id="batch-title">{t('admin.newBatch')}</h2>
      <div className="inline-form">
        <label className="field">
          <span className="field-label">{t('admin.creditsPerCode')}</span>
          <input
            type="number"
            required
            min={1}
            step={1}
            value={credits}
            onChange={(e) => setCredits(e.target.value)}
            aria-invalid={fieldErrors.credits ? true : undefined}
          />
          {fieldErrors.credits && <span className="field-error">{fieldErrors.credits}</span>}
        </label>
        <label className="field">
          <span className="field-label">{t('admin.count')}</span>
          <input
            type="number"
            required
            min={1}
            max={10000}
            step={1}
            value={count}
            onChange={(e) => setCount(e.target.value)}
            aria-invalid={fieldErrors.count ? true : undefined}
          />
          {fieldErrors.count && <span className="field-error">{fieldErrors.count}</span>}
        </label>
        <label className="field">
          <span className="field-label">{t('admin.maxRedemptions')}</span>
          <input
            type="number"
            min={1}
            step={1}
            value={maxRedemptions}
            onChange={(e) => setMaxRedemptions(e.target.value)}
            aria-invalid={fieldErrors.maxRedemptions ? true : undefined}
          />
          {fieldErrors.maxRedemptions && <span className="field-error">{fieldErrors.maxRedemptions}</span>}
        </label>
        <label className="field field-wide">
          <span className="field-label">{t('admin.expiresAt')}</span>
          <input
            type="datetime-local"
            value={expiresAt}
            onChange={(e) => setExpiresAt(e.target.value)}
            aria-invalid={fieldErrors.expiresAt ? true : undefined}
          />
          {fieldErrors.expiresAt && <span className="field-error">{fieldErrors.expiresAt}</span>}
        </label>
        <label className="field">
          <span className="field-label">{t('admin.note')}</span>
          <input
            value={note}
            maxLength={200}
            onChange={(e) => setNote(e.target.value)}
            aria-invalid={fieldErrors.note ? true : undefined}
          />
          {fieldErrors.note && <span className="field-error">{fieldErrors.note}</span>}
        </label>
        <SubmitButton className="btn btn-primary" busy={create.isPending}>
          {t('admin.createBatch')}
        </SubmitButton>
      </div>
      {create.error && !Object.keys(fieldErrors).length && <ErrorNotice error={create.error} />}
      {create.data && (
        <div className="notice notice-success stack" role="status" data-testid="batch-created">
          <p className="notice-title">{t('admin.batchCreated', { count: create.data.codes.length })}</p>
          <div className="row">
            <button
              type="button"
              className="btn btn-primary btn-sm"
              onClick={() => create.data && downloadText(csvName, create.data.csv)}
            >
              {t('admin.downloadCsv')}
            </button>
          </div>
          {/* biome-ignore lint/a11y/noNoninteractiveTabindex: a scrollable region must be reachable by keyboard */}
          <pre className="snippet" style={{ maxHeight: 160 }} data-testid="batch-codes" tabIndex={0}>
            {create.data.codes.slice(0, 20).join('\n')}
            {create.data.codes.length > 20 ? `\n… +${create.data.codes.length - 20}` : ''}
          </pre>
        </div>
      )}
    </form>
  );
}

/**
 * Support: disable one code a user reported (leaked, mis-sent) by pasting it; only its hash is looked up.
 * Asks first, like every destructive action; the answer (done, or why not) shows under the form.
 */
function DisableOneCodeForm() {
  const { t } = useI18n();
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [code, setCode] = useState('');
  const [confirming, setConfirming] = useState(false);
  const disable = useMutation(
    trpc.admin.codes.disable.mutationOptions({
      onSuccess: () => {
        setCode('');
        void queryClient.invalidateQueries(trpc.admin.codes.pathFilter());
      },
      onSettled: () => setConfirming(false),
    }),
  );
  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (!code.trim()) return;
    disable.reset();
    setConfirming(true);
  };
  return (
    <>
      <form className="card stack" onSubmit={submit} aria-labelledby="disable-one-title" noValidate>
        <h2 id="disable-one-title">{t('admin.disableOne')}</h2>
        <div className="inline-form">
          <label className="field field-wide">
            <span className="field-label">{t('admin.disableOneCode')}</span>
            <input
              className="mono"
              required
              autoComplete="off"
              placeholder="XXXXX-XXXXX-XXXXX-XXXXX-XXXXX"
              value={code}
              onChange={(e) => setCode(e.target.value)}
            />
          </label>
          <SubmitButton className="btn btn-danger-ghost" busy={disable.isPending} disabled={!code.trim()}>
            {t('admin.disable')}
          </SubmitButton>
        </div>
        {disable.error && <ErrorNotice error={disable.error} />}
        {disable.data && (
          <p role="status" className="muted">
            {disable.data.disabled > 0 ? t('admin.codeDisabled') : t('admin.codeAlreadyDisabled')}
          </p>
        )}
      </form>
      <ConfirmDialog
        open={confirming}
        message={t('admin.disableOneConfirm', { code: code.trim() })}
        confirmLabel={t('admin.disable')}
        busy={disable.isPending}
        onConfirm={() => disable.mutate({ code })}
        onCancel={() => setConfirming(false)}
      />
    </>
  );
}

export function CodesPanel() {
  const { t, locale } = useI18n();
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [disabling, setDisabling] = useState<string>();
  const batches = useInfiniteQuery(
    trpc.admin.codes.list.infiniteQueryOptions(
      { limit: 20 },
      { getNextPageParam: (last) => last.nextCursor ?? undefined },
    ),
  );
  const disable = useMutation(
    trpc.admin.codes.disable.mutationOptions({
      onSuccess: () => {
        setDisabling(undefined);
        void queryClient.invalidateQueries(trpc.admin.codes.pathFilter());
      },
    }),
  );
  const rows = batches.data?.pages.flatMap((p) => p.items) ?? [];
  // Each batch's cells, shown as a table row on wide screens and as a card on a phone.
  const cells = rows.map((batch) => {
    const label = batch.note || batch.batchId.slice(-10);
    return {
      batch,
      name: batch.note || <span className="mono">{label}</span>,
      origin: `${batch.createdBy} · ${t('admin.usesEach', { n: batch.maxRedemptions })}`,
      expires: batch.expiresAt ? formatDateTime(new Date(batch.expiresAt), locale) : '—',
      created: formatDate(new Date(batch.createdAt), locale),
      action:
        batch.disabledCount >= batch.count ? (
          <span className="badge">{t('admin.disabled')}</span>
        ) : (
          <button
            type="button"
            className="btn btn-danger-ghost btn-sm"
            aria-label={t('admin.disableBatch', { name: label })}
            onClick={() => setDisabling(batch.batchId)}
          >
            {t('admin.disable')}
          </button>
        ),
    };
  });
  return (
    <div className="stack">
      <NewBatchForm />
      <DisableOneCodeForm />
      {batches.isPending ? (
        <Loading />
      ) : batches.error ? (
        <ErrorNotice error={batches.error} />
      ) : rows.length === 0 ? (
        <Empty>{t('admin.noBatches')}</Empty>
      ) : (
        <>
          <TableWrap label={t('admin.codes')} cards>
            <table data-testid="batches">
              <thead>
                <tr>
                  <th scope="col">{t('admin.batch')}</th>
                  <th scope="col" className="num">
                    {t('admin.creditsPerCode')}
                  </th>
                  <th scope="col" className="num">
                    {t('admin.count')}
                  </th>
                  <th scope="col" className="num">
                    {t('admin.used')}
                  </th>
                  <th scope="col" className="num">
                    {t('admin.exhausted')}
                  </th>
                  <th scope="col" className="num">
                    {t('admin.disabled')}
                  </th>
                  <th scope="col">{t('admin.expires')}</th>
                  <th scope="col">{t('admin.created')}</th>
                  <th scope="col">
                    <span className="sr-only">{t('admin.disable')}</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {cells.map((row) => (
                  <tr key={row.batch.batchId}>
                    <td className="wrap">
                      {row.name}
                      <div className="muted small">{row.origin}</div>
                    </td>
                    <td className="num">{row.batch.credits}</td>
                    <td className="num">{row.batch.count}</td>
                    <td className="num">{row.batch.redemptions}</td>
                    <td className="num">{row.batch.exhaustedCount}</td>
                    <td className="num">{row.batch.disabledCount}</td>
                    <td>{row.expires}</td>
                    <td>{row.created}</td>
                    <td className="num">{row.action}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </TableWrap>
          <TableCards label={t('admin.codes')} testId="batches-cards">
            {cells.map((row) => (
              <RowCard
                key={row.batch.batchId}
                testId="batch-card"
                title={row.name}
                sub={row.origin}
                fields={[
                  { label: t('admin.creditsPerCode'), value: row.batch.credits },
                  { label: t('admin.count'), value: row.batch.count },
                  { label: t('admin.used'), value: row.batch.redemptions },
                  { label: t('admin.exhausted'), value: row.batch.exhaustedCount },
                  { label: t('admin.disabled'), value: row.batch.disabledCount },
                  { label: t('admin.expires'), value: row.expires },
                  { label: t('admin.created'), value: row.created },
                ]}
                actions={row.action}
              />
            ))}
          </TableCards>
        </>
      )}
      {batches.hasNextPage && (
        <div className="list-end">
          <button type="button" className="btn btn-secondary" onClick={() => void batches.fetchNextPage()}>
            {t('common.loadMore')}
          </button>
        </div>
      )}
      <ConfirmDialog
        open={Boolean(disabling)}
        message={
          <>
            {t('admin.disableConfirm')}
            {disable.error && <ErrorNotice error={disable.error} />}
          </>
        }
        confirmLabel={t('admin.disable')}
        busy={disable.isPending}
        onConfirm={() => disabling && disable.mutate({ batchId: disabling })}
        onCancel={() => {
          disable.reset();
          setDisabling(undefined);
        }}
      />
    </div>
  );
}
