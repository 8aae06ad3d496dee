import { useMutation, useQueryClient } from '@tanstack/react-query';
import { type FormEvent, type ReactNode, useState } from 'react';
import { Link, useLocation, useNavigate, useSearchParams } from 'react-router';
import { PASSWORD_MIN_LENGTH } from '../../../shared/schemas/auth.ts';
import { useI18n, usePageTitle } from '../../i18n/index.tsx';
import { describeError } from '../../lib/errors.ts';
import { useTRPC } from '../../lib/trpc.ts';
import { LanguageSwitch } from '../../ui/language-switch.tsx';
import { SubmitButton } from '../../ui/submit-button.tsx';
import { ThemeSwitch } from '../../ui/theme-switch.tsx';
import { emailFromState } from '../auth/email-state.ts';
import { ReasonNotice } from './reason-notice.tsx';

/** The signed-out card layout of the sign-in page; its title is the page's title too. */
export function AccountCard({ title, children }: { title: string; children: ReactNode }) {
  usePageTitle(title);
  return (
    <main className="auth">
      <div className="auth-top">
        <LanguageSwitch />
        <ThemeSwitch />
      </div>
      <div className="auth-card card stack">
        <h1>{title}</h1>
        {children}
      </div>
    </main>
  );
}

/**
 * /forgot-password: asks for a reset link; the answer never says whether the account exists. A sign-up that
 * found the address taken links here with the address in the history state (not in the URL, so no log keeps it).
 */
export function ForgotPasswordPage() {
  const { t } = useI18n();
  const trpc = useTRPC();
  const location = useLocation();
  const [email, setEmail] = useState(() => emailFromState(location.state));
  const request = useMutation(trpc.auth.requestPasswordReset.mutationOptions());
  const fieldErrors = request.error ? (describeError(request.error, t).fieldErrors ?? {}) : {};
  const submit = (event: FormEvent) => {
    event.preventDefault();
    request.mutate({ email });
  };
  return (
    <AccountCard title={t('reset.title')}>
      <p className="muted">{t('reset.intro')}</p>
      <form className="stack" onSubmit={submit} noValidate>
        <label className="field">
          <span className="field-label">{t('auth.email')}</span>
          <input
            type="email"
            autoComplete="email"
            required
            value={email}
            onChange={(e) => setEmail(e.target.value)}
            aria-invalid={fieldErrors.email ? true : undefined}
          />
          {fieldErrors.email && <span className="field-error">{fieldErrors.email}</span>}
        </label>
        {request.error && !Object.keys(fieldErrors).length && <ReasonNotice error={request.error} />}
        {request.isSuccess && (
          <p className="notice notice-success" role="status">
            {t('reset.sent')}
          </p>
        )}
        <SubmitButton className="btn btn-primary btn-block" busy={request.isPending} disabled={!email}>
          {t('reset.send')}
        </SubmitButton>
      </form>
      <p className="auth-switch muted">
        <Link to="/signin">{t('reset.back')}</Link>
      </p>
    </AccountCard>
  );
}

/** /reset-password?token=…: the link from the email; saving signs in and ends every other session. */
export function ResetPasswordPage() {
  const { t } = useI18n();
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const navigate = useNavigate();
  const [params] = useSearchParams();
  const token = params.get('token')?.trim() ?? '';
  const [password, setPassword] = useState('');
  const reset = useMutation(
    trpc.auth.resetPassword.mutationOptions({
      onSuccess: async () => {
        queryClient.clear();
        await queryClient.invalidateQueries(trpc.auth.me.queryFilter());
        navigate('/create', { replace: true });
      },
    }),
  );
  const fieldErrors = reset.error ? (describeError(reset.error, t).fieldErrors ?? {}) : {};
  const submit = (event: FormEvent) => {
    event.preventDefault();
    reset.mutate({ token, password });
  };
  return (
    <AccountCard title={t('reset.newTitle')}>
      {!token ? (
        <p className="notice notice-error" role="alert">
          {t('reason.RESET_LINK_INVALID')}
        </p>
      ) : (
        <form className="stack" onSubmit={submit} noValidate>
          <label className="field">
            <span className="field-label">{t('account.newPassword')}</span>
            <input
              type="password"
              autoComplete="new-password"
              required
              minLength={PASSWORD_MIN_LENGTH}
              value={password}
              onChange={(e) => setPassword(e.target.value)}
              aria-invalid={fieldErrors.password ? true : undefined}
            />
            {fieldErrors.password ? (
              <span className="field-error">{fieldErrors.password}</span>
            ) : (
              <span className="field-hint">{t('auth.passwordHint', { n: PASSWORD_MIN_LENGTH })}</span>
            )}
          </label>
          {reset.error && !fieldErrors.password && <ReasonNotice error={reset.error} />}
          <SubmitButton className="btn btn-primary btn-block" busy={reset.isPending} disabled={!password}>
            {t('reset.save')}
          </SubmitButton>
        </form>
      )}
      <p className="auth-switch muted">
        <Link to="/forgot-password">{t('auth.forgot')}</Link>
      </p>
    </AccountCard>
  );
}
