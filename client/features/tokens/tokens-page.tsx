import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { type FormEvent, useState } from 'react';
import { useI18n, usePageTitle } from '../../i18n/index.tsx';
import { formatDateTime } from '../../lib/format.ts';
import { useTRPC } from '../../lib/trpc.ts';
import { ConfirmDialog } from '../../ui/confirm-dialog.tsx';
import { CopyButton } from '../../ui/copy-button.tsx';
import { ErrorNotice } from '../../ui/error-notice.tsx';
import { Empty, Loading } from '../../ui/states.tsx';
import { SubmitButton } from '../../ui/submit-button.tsx';
import { RowCard, TableCards, TableWrap } from '../../ui/table-wrap.tsx';
import { ReasonNotice } from '../account/reason-notice.tsx';
import { useMe } from '../auth/use-me.ts';

/** How another TypeScript app calls the API with a token: the typed client from the README (comment in the page's language). */
export const clientSnippet = (
  origin: string,
  token: string | undefined,
  eventSourceComment: string,
) => `import { EventSource } from 'eventsource'; // ${eventSourceComment}
import { createClient } from './shared/api-client.ts';

const api = createClient({
  url: '${origin}',
  token: ${token ? `'${token}'` : 'process.env.DREAM_TOKEN!'},
  EventSource,
});

const { balance } = await api.credits.balance.query();
const { job, outputs } = await api.ai.generateImage.mutate({ prompt: 'a red kite over West Lake', n: 1 });
console.log(balance, job.cost, outputs[0]?.url);`;

export default function TokensPage() {
  const { t, locale } = useI18n();
  usePageTitle(t('tokens.title'));
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [name, setName] = useState('');
  const [days, setDays] = useState('');
  const [admin, setAdmin] = useState(false);
  const isAdmin = useMe().data?.user.role === 'admin';
  const [revoking, setRevoking] = useState<{ id: string; name: string }>();
  const tokens = useQuery(trpc.apiTokens.list.queryOptions());
  const invalidate = () => queryClient.invalidateQueries(trpc.apiTokens.list.queryFilter());
  const create = useMutation(
    trpc.apiTokens.create.mutationOptions({
      onSuccess: () => {
        setName('');
        void invalidate();
      },
    }),
  );
  const revoke = useMutation(
    trpc.apiTokens.revoke.mutationOptions({
      onSuccess: () => {
        setRevoking(undefined);
        void invalidate();
      },
    }),
  );
  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (name.trim())
      create.mutate({
        name: name.trim(),
        ...(days ? { expiresInDays: Number(days) } : {}),
        ...(isAdmin && admin ? { admin: true } : {}),
      });
  };
  // Each token's cells in words, shown as a table row on wide screens and as a card on a phone.
  const rows = (tokens.data ?? []).map((token) => ({
    token,
    prefix: `${token.prefix}…`,
    scope: token.scope === 'admin' ? t('tokens.scopeAdmin') : t('tokens.scopeUser'),
    expires: token.expiresAt ? formatDateTime(new Date(token.expiresAt), locale) : t('tokens.expiryNever'),
    lastUsed: token.lastUsedAt ? formatDateTime(new Date(token.lastUsedAt), locale) : t('tokens.never'),
    created: formatDateTime(new Date(token.createdAt), locale),
    action: token.revokedAt ? (
      <span className="badge">{t('tokens.revoked')}</span>
    ) : (
      <button
        type="button"
        className="btn btn-danger-ghost btn-sm"
        aria-label={t('tokens.revokeNamed', { name: token.name })}
        onClick={() => setRevoking({ id: token.id, name: token.name })}
      >
        {t('tokens.revoke')}
      </button>
    ),
  }));
  const origin = typeof location === 'undefined' ? 'http://localhost:3000' : location.origin;
  const snippet = clientSnippet(origin, create.data?.token, t('tokens.snippetEventSource'));

  return (
    <div className="page stack">
      <div>
        <h1>{t('tokens.title')}</h1>
        <p className="muted">{t('tokens.intro')}</p>
      </div>
      <section className="card stack">
        <form className="inline-form" onSubmit={submit} noValidate>
          <label className="field">
            <span className="field-label">{t('tokens.name')}</span>
            <input
              value={name}
              maxLength={100}
              onChange={(e) => setName(e.target.value)}
              placeholder={t('tokens.namePlaceholder')}
            />
          </label>
          <label className="field">
            <span className="field-label">{t('tokens.expiry')}</span>
            <select value={days} onChange={(e) => setDays(e.target.value)}>
              <option value="">{t('tokens.expiryNever')}</option>
              {[7, 30, 90, 365].map((n) => (
                <option key={n} value={n}>
                  {t('tokens.expiryDays', { n })}
                </option>
              ))}
            </select>
          </label>
          <SubmitButton className="btn btn-primary" busy={create.isPending} disabled={!name.trim()}>
            {t('tokens.create')}
          </SubmitButton>
        </form>
        {isAdmin && (
          <label className="row check">
            <input type="checkbox" checked={admin} onChange={(e) => setAdmin(e.target.checked)} />
            <span>{t('tokens.adminScope')}</span>
          </label>
        )}
        {create.error && <ReasonNotice error={create.error} />}
        {create.data && (
          <div className="notice notice-success stack" role="status">
            <p className="notice-title">{t('tokens.copyOnce')}</p>
            <div className="token-reveal">
              <code data-testid="new-token">{create.data.token}</code>
              <CopyButton text={create.data.token} />
            </div>
          </div>
        )}
      </section>

      {/* Not a labelled section: the table's TableWrap is the region named "Your tokens". */}
      <section className="stack">
        <h2>{t('tokens.list')}</h2>
        {tokens.isPending ? (
          <Loading />
        ) : tokens.error ? (
          <ErrorNotice error={tokens.error} />
        ) : tokens.data.length === 0 ? (
          <Empty>{t('tokens.empty')}</Empty>
        ) : (
          <>
            <TableWrap label={t('tokens.list')} cards>
              <table data-testid="tokens-table">
                <thead>
                  <tr>
                    <th scope="col">{t('tokens.name')}</th>
                    <th scope="col">{t('tokens.prefix')}</th>
                    <th scope="col">{t('tokens.scope')}</th>
                    <th scope="col">{t('tokens.expiry')}</th>
                    <th scope="col">{t('tokens.lastUsed')}</th>
                    <th scope="col">{t('tokens.created')}</th>
                    <th scope="col">
                      <span className="sr-only">{t('tokens.revoke')}</span>
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {rows.map((row) => (
                    <tr key={row.token.id}>
                      <td>{row.token.name}</td>
                      <td className="mono">{row.prefix}</td>
                      <td>{row.scope}</td>
                      <td>{row.expires}</td>
                      <td>{row.lastUsed}</td>
                      <td>{row.created}</td>
                      <td className="num">{row.action}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </TableWrap>
            <TableCards label={t('tokens.list')} testId="tokens-cards">
              {rows.map((row) => (
                <RowCard
                  key={row.token.id}
                  testId="token-card"
                  title={row.token.name}
                  fields={[
                    { label: t('tokens.prefix'), value: <span className="mono">{row.prefix}</span> },
                    { label: t('tokens.scope'), value: row.scope },
                    { label: t('tokens.expiry'), value: row.expires },
                    { label: t('tokens.lastUsed'), value: row.lastUsed },
                    { label: t('tokens.created'), value: row.created },
                  ]}
                  actions={row.action}
                />
              ))}
            </TableCards>
          </>
        )}
      </section>

      <section className="stack" aria-labelledby="snippet-title">
        <div className="row" style={{ justifyContent: 'space-between' }}>
          <h2 id="snippet-title">{t('tokens.snippet')}</h2>
          <CopyButton text={snippet} />
        </div>
        {/* biome-ignore lint/a11y/noNoninteractiveTabindex: a scrollable region must be reachable by keyboard */}
        <pre className="snippet" tabIndex={0}>
          <code>{snippet}</code>
        </pre>
      </section>

      <ConfirmDialog
        open={Boolean(revoking)}
        message={t('tokens.revokeConfirm', { name: revoking?.name ?? '' })}
        confirmLabel={t('tokens.revoke')}
        busy={revoke.isPending}
        onConfirm={() => revoking && revoke.mutate({ id: revoking.id })}
        onCancel={() => setRevoking(undefined)}
      />
    </div>
  );
}
