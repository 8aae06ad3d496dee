import { TRPCClientError } from '@trpc/client';
import { hasMessage, type MessageKey, useI18n } from '../../i18n/index.tsx';
import { ErrorNotice } from '../../ui/error-notice.tsx';

/** The server's precise reason (`data.reason`, e.g. LOCKED_OUT) as a dictionary key, when we have words for it. */
export function reasonKey(
  error: unknown,
): { key: MessageKey; params?: Record<string, string | number> } | null {
  if (!(error instanceof TRPCClientError)) return null;
  const data = error.data as { reason?: string; params?: Record<string, string | number> } | undefined;
  const key = `reason.${data?.reason ?? ''}`;
  return hasMessage(key) ? { key, params: data?.params } : null;
}

/** An error said precisely when the server gave a reason, else the general notice. */
export function ReasonNotice({ error }: { error: unknown }) {
  const { t } = useI18n();
  const reason = reasonKey(error);
  if (!reason) return <ErrorNotice error={error} />;
  return (
    <p className="notice notice-error" role="alert" data-reason={reason.key}>
      {t(reason.key, reason.params)}
    </p>
  );
}
