import { useMutation, useQueryClient } from '@tanstack/react-query';
import { type FormEvent, useState } from 'react';
import { useI18n } from '../../i18n/index.tsx';
import { formatNumber } from '../../lib/format.ts';
import { useTRPC } from '../../lib/trpc.ts';
import { ErrorNotice } from '../../ui/error-notice.tsx';
import { SubmitButton } from '../../ui/submit-button.tsx';

/** Redeem a code (兑换码). The server normalises case, spaces and dashes, so we send what was typed. */
export function RedeemForm() {
  const { t, locale } = useI18n();
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [code, setCode] = useState('');
  const redeem = useMutation(
    trpc.redeem.redeem.mutationOptions({
      onSuccess: () => {
        setCode('');
        void queryClient.invalidateQueries(trpc.credits.pathFilter());
        void queryClient.invalidateQueries(trpc.auth.me.queryFilter());
      },
    }),
  );
  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (code.trim()) redeem.mutate({ code: code.trim() });
  };
  return (
    <section className="card stack" id="redeem" aria-labelledby="redeem-title">
      <h2 id="redeem-title">{t('redeem.title')}</h2>
      <form className="redeem-form" onSubmit={submit} noValidate>
        <label htmlFor="redeem-code" className="sr-only">
          {t('redeem.code')}
        </label>
        <input
          id="redeem-code"
          name="code"
          value={code}
          onChange={(e) => {
            setCode(e.target.value);
            if (redeem.data || redeem.error) redeem.reset();
          }}
          placeholder={t('redeem.placeholder')}
          autoComplete="off"
          autoCapitalize="characters"
          spellCheck={false}
          maxLength={64}
        />
        <SubmitButton className="btn btn-primary" busy={redeem.isPending} disabled={!code.trim()}>
          {t('redeem.submit')}
        </SubmitButton>
      </form>
      {redeem.data && (
        <p className="notice notice-success" role="status" data-testid="redeem-success">
          {t('redeem.success', {
            credits: formatNumber(redeem.data.credits, locale),
            balance: formatNumber(redeem.data.balance, locale),
          })}
        </p>
      )}
      {redeem.error && <ErrorNotice error={redeem.error} />}
    </section>
  );
}
