import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useEffect, useRef } from 'react';
import { Link, useSearchParams } from 'react-router';
import { useI18n } from '../../i18n/index.tsx';
import { useTRPC } from '../../lib/trpc.ts';
import { Spinner } from '../../ui/states.tsx';
import { ReasonNotice } from './reason-notice.tsx';
import { AccountCard } from './reset-pages.tsx';

/** /verify-email?token=…: the link from the email confirms the address once, on arrival. */
export default function VerifyEmailPage() {
  const { t } = useI18n();
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [params] = useSearchParams();
  const token = params.get('token')?.trim() ?? '';
  const verify = useMutation(
    trpc.auth.verifyEmail.mutationOptions({
      onSuccess: () => void queryClient.invalidateQueries(),
    }),
  );
  const sent = useRef(false);
  useEffect(() => {
    // Once per page view (StrictMode runs effects twice): the link is single use.
    if (!token || sent.current) return;
    sent.current = true;
    verify.mutate({ token });
  }, [token, verify]);
  return (
    <AccountCard title={t('verify.title')}>
      {!token ? (
        <p className="notice notice-error" role="alert">
          {t('reason.VERIFY_LINK_INVALID')}
        </p>
      ) : verify.error ? (
        <ReasonNotice error={verify.error} />
      ) : verify.isSuccess ? (
        <p className="notice notice-success" role="status" data-testid="verify-done">
          {t('verify.done')}
        </p>
      ) : (
        <Spinner label={t('verify.working')} />
      )}
      <Link to="/create" className="btn btn-primary">
        {t('verify.continue')}
      </Link>
    </AccountCard>
  );
}
