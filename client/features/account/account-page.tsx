import { useMutation, useQueryClient } from '@tanstack/react-query';
import { type FormEvent, useState } from 'react';
import { useNavigate } from 'react-router';
import { PASSWORD_MIN_LENGTH } from '../../../shared/schemas/auth.ts';
import { useI18n, usePageTitle } from '../../i18n/index.tsx';
import { describeError } from '../../lib/errors.ts';
import { useTRPC } from '../../lib/trpc.ts';
import { ConfirmDialog } from '../../ui/confirm-dialog.tsx';
import { SubmitButton } from '../../ui/submit-button.tsx';
import { useMe } from '../auth/use-me.ts';
import { ReasonNotice } from './reason-notice.tsx';

/** The account: address confirmation, password change, sign out everywhere. */
export default function AccountPage() {
  const { t } = useI18n();
  usePageTitle(t('account.title'));
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const navigate = useNavigate();
  const user = useMe().data?.user;
  const [current, setCurrent] = useState('');
  const [next, setNext] = useState('');
  const [confirming, setConfirming] = useState(false);
  const resend = useMutation(trpc.auth.resendVerification.mutationOptions());
  const change = useMutation(
    trpc.auth.changePassword.mutationOptions({
      onSuccess: () => {
        setCurrent('');
        setNext('');
      },
    }),
  );
  const everywhere = useMutation(
    trpc.auth.signOutEverywhere.mutationOptions({
      onSettled: () => {
        queryClient.clear();
        navigate('/signin', { replace: true });
      },
    }),
  );
  const fieldErrors = change.error ? (describeError(change.error, t).fieldErrors ?? {}) : {};
  const submit = (event: FormEvent) => {
    event.preventDefault();
    change.mutate({ currentPassword: current, newPassword: next });
  };
  if (!user) return null;

  return (
    <div className="page narrow stack account-page">
      <h1>{t('account.title')}</h1>
      <section className="card stack" aria-labelledby="account-email">
        <h2 id="account-email">{t('account.email')}</h2>
        <p>
          <span className="mono">{user.email}</span>{' '}
          <span className={user.emailVerified ? 'badge' : 'badge badge-warn'} data-testid="email-status">
            {user.emailVerified ? t('account.verified') : t('account.unverified')}
          </span>
        </p>
        {!user.emailVerified && (
          <div className="stack">
            <button
              type="button"
              className="btn btn-ghost"
              onClick={() => resend.mutate()}
              disabled={resend.isPending}
            >
              {t('account.resend')}
            </button>
            {resend.isSuccess && (
              <p className="notice notice-success" role="status">
                {t('account.resent')}
              </p>
            )}
            {resend.error && <ReasonNotice error={resend.error} />}
          </div>
        )}
      </section>

      <form className="card stack" onSubmit={submit} aria-labelledby="change-password" noValidate>
        <h2 id="change-password">{t('account.changePassword')}</h2>
        <label className="field">
          <span className="field-label">{t('account.currentPassword')}</span>
          <input
            type="password"
            autoComplete="current-password"
            required
            value={current}
            onChange={(e) => setCurrent(e.target.value)}
            aria-invalid={fieldErrors.currentPassword ? true : undefined}
          />
          {fieldErrors.currentPassword && <span className="field-error">{fieldErrors.currentPassword}</span>}
        </label>
        <label className="field">
          <span className="field-label">{t('account.newPassword')}</span>
          <input
            type="password"
            autoComplete="new-password"
            required
            minLength={PASSWORD_MIN_LENGTH}
            value={next}
            onChange={(e) => setNext(e.target.value)}
            aria-invalid={fieldErrors.newPassword ? true : undefined}
          />
          {fieldErrors.newPassword ? (
            <span className="field-error">{fieldErrors.newPassword}</span>
          ) : (
            <span className="field-hint">{t('auth.passwordHint', { n: PASSWORD_MIN_LENGTH })}</span>
          )}
        </label>
        {change.error && !Object.keys(fieldErrors).length && <ReasonNotice error={change.error} />}
        {change.isSuccess && (
          <p className="notice notice-success" role="status">
            {t('account.passwordChanged')}
          </p>
        )}
        <SubmitButton className="btn btn-primary" busy={change.isPending} disabled={!current || !next}>
          {t('account.save')}
        </SubmitButton>
      </form>

      <section className="card stack" aria-labelledby="sign-out-everywhere">
        <h2 id="sign-out-everywhere">{t('account.signOutEverywhere')}</h2>
        <p className="muted">{t('account.signOutEverywhereHint')}</p>
        <button type="button" className="btn btn-danger-ghost" onClick={() => setConfirming(true)}>
          {t('account.signOutEverywhere')}
        </button>
      </section>
      <ConfirmDialog
        open={confirming}
        message={t('account.signOutEverywhereConfirm')}
        confirmLabel={t('account.signOutEverywhere')}
        busy={everywhere.isPending}
        onConfirm={() => everywhere.mutate()}
        onCancel={() => setConfirming(false)}
      />
    </div>
  );
}
