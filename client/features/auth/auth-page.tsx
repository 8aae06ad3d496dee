import { useMutation, useQueryClient } from '@tanstack/react-query';
import { type FormEvent, Fragment, type ReactNode, useState } from 'react';
import { Link, Navigate, useLocation, useNavigate, useSearchParams } from 'react-router';
import { PASSWORD_MIN_LENGTH } from '../../../shared/limits.ts';
import { useI18n, usePageTitle } from '../../i18n/index.tsx';
import { describeError } from '../../lib/errors.ts';
import { useTRPC } from '../../lib/trpc.ts';
import { ErrorNotice } from '../../ui/error-notice.tsx';
import { LanguageSwitch } from '../../ui/language-switch.tsx';
import { SubmitButton } from '../../ui/submit-button.tsx';
import { ThemeSwitch } from '../../ui/theme-switch.tsx';
import { type EmailState, emailFromState } from './email-state.ts';
import { useMe } from './use-me.ts';

/** Only same-site paths, so a crafted ?next= cannot send the user elsewhere. */
const safeNext = (next: string | null) =>
  next?.startsWith('/') && !next.startsWith('//') ? next : '/create';

/** A translated sentence with elements (links) in place of its {placeholders}, so it is translated whole. */
const withElements = (template: string, elements: Record<string, ReactNode>) =>
  template
    .split(/\{(\w+)\}/)
    .map((part, i) => (i % 2 ? <Fragment key={part}>{elements[part]}</Fragment> : part));

export function AuthPage({ mode }: { mode: 'signin' | 'signup' }) {
  const { t } = useI18n();
  usePageTitle(mode === 'signin' ? t('auth.signIn') : t('auth.signUp'));
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const navigate = useNavigate();
  const [params] = useSearchParams();
  const location = useLocation();
  const next = safeNext(params.get('next'));
  const me = useMe();
  const [email, setEmail] = useState(() => emailFromState(location.state));
  const [password, setPassword] = useState('');

  const onSuccess = async () => {
    queryClient.clear();
    await queryClient.invalidateQueries(trpc.auth.me.queryFilter());
    navigate(next, { replace: true });
  };
  const signIn = useMutation(trpc.auth.signIn.mutationOptions({ onSuccess }));
  const signUp = useMutation(trpc.auth.signUp.mutationOptions({ onSuccess }));
  const mutation = mode === 'signin' ? signIn : signUp;
  const error = mutation.error ? describeError(mutation.error, t) : undefined;
  const fieldErrors = error?.fieldErrors ?? {};
  // The address has an account: say so, with the two ways on (the address goes along).
  const emailTaken = error?.reason === 'EMAIL_TAKEN';
  const carry: EmailState = { email };

  if (me.data?.user) return <Navigate to={next} replace />;

  const submit = (event: FormEvent) => {
    event.preventDefault();
    mutation.mutate({ email, password });
  };
  const otherMode = mode === 'signin' ? 'signup' : 'signin';
  const keepNext = params.get('next') ? `?next=${encodeURIComponent(next)}` : '';

  return (
    <main className="auth">
      <div className="auth-top">
        <LanguageSwitch />
        <ThemeSwitch />
      </div>
      <div className="auth-card card">
        <div className="auth-brand">
          <svg viewBox="0 0 32 32" width="40" height="40" aria-hidden="true">
            <rect width="32" height="32" rx="8" fill="var(--accent)" />
            <path d="M9 22l5-8 4 5 2-3 3 6z" fill="#fff" />
            <circle cx="21" cy="11" r="2.5" fill="#ffd166" />
          </svg>
          <div>
            <p className="auth-name">{t('app.name')}</p>
            <p className="muted small">{t('app.tagline')}</p>
          </div>
        </div>
        <h1>{mode === 'signin' ? t('auth.welcome') : t('auth.join')}</h1>
        {mode === 'signup' && <p className="muted">{t('auth.bonus')}</p>}
        <form onSubmit={submit} className="stack" noValidate>
          <label className="field">
            <span className="field-label">{t('auth.email')}</span>
            <input
              type="email"
              name="email"
              autoComplete="email"
              required
              value={email}
              onChange={(e) => setEmail(e.target.value)}
              aria-invalid={fieldErrors.email || emailTaken ? true : undefined}
              aria-describedby={emailTaken ? 'email-taken' : undefined}
            />
            {fieldErrors.email && <span className="field-error">{fieldErrors.email}</span>}
          </label>
          <label className="field">
            <span className="field-label">{t('auth.password')}</span>
            <input
              type="password"
              name="password"
              autoComplete={mode === 'signin' ? 'current-password' : 'new-password'}
              required
              minLength={mode === 'signup' ? PASSWORD_MIN_LENGTH : undefined}
              value={password}
              onChange={(e) => setPassword(e.target.value)}
              aria-invalid={fieldErrors.password ? true : undefined}
            />
            {mode === 'signup' && !fieldErrors.password && (
              <span className="field-hint">{t('auth.passwordHint', { n: PASSWORD_MIN_LENGTH })}</span>
            )}
            {fieldErrors.password && <span className="field-error">{fieldErrors.password}</span>}
          </label>
          {error &&
            !Object.keys(fieldErrors).length &&
            (emailTaken ? (
              <p className="notice notice-error" role="alert" id="email-taken" data-reason="EMAIL_TAKEN">
                {withElements(t('auth.emailTaken'), {
                  signIn: (
                    <Link to={`/signin${keepNext}`} state={carry}>
                      {t('auth.emailTakenSignIn')}
                    </Link>
                  ),
                  reset: (
                    <Link to="/forgot-password" state={carry}>
                      {t('auth.emailTakenReset')}
                    </Link>
                  ),
                })}
              </p>
            ) : error.code === 'UNAUTHENTICATED' ? (
              <p className="notice notice-error" role="alert">
                {t('auth.wrongPassword')}
              </p>
            ) : (
              <ErrorNotice info={error} />
            ))}
          <SubmitButton className="btn btn-primary btn-block" busy={mutation.isPending}>
            {mode === 'signin' ? t('auth.signIn') : t('auth.signUp')}
          </SubmitButton>
        </form>
        {mode === 'signin' && (
          <p className="auth-switch muted">
            <Link to="/forgot-password">{t('auth.forgot')}</Link>
          </p>
        )}
        <p className="auth-switch muted">
          {mode === 'signin' ? t('auth.noAccount') : t('auth.haveAccount')}{' '}
          <Link to={`/${otherMode}${keepNext}`}>
            {mode === 'signin' ? t('auth.signUp') : t('auth.signIn')}
          </Link>
        </p>
      </div>
    </main>
  );
}
