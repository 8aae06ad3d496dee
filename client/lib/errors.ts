import { TRPCClientError } from '@trpc/client';
import { type AppCode, isAppCode } from '../../shared/errors.ts';
import type { MessageKey } from '../i18n/en.ts';

/** What the UI needs to explain a failure: a message key, the next step, and details worth showing. */
export interface ErrorInfo {
  code: AppCode | 'INTERNAL' | 'NETWORK';
  messageKey: MessageKey;
  /** A link to the next step, when there is one (INSUFFICIENT_CREDITS → redeem). */
  action?: { key: MessageKey; to: string };
  /** A sentence telling what to do, when there is no link. */
  hintKey?: MessageKey;
  /** The server's own message, shown for VALIDATION (it names the field). */
  detail?: string;
  /** Field → message, from zod issues. */
  fieldErrors?: Record<string, string>;
  jobId?: string;
}

interface ErrorData {
  appCode?: string;
  jobId?: string;
  httpStatus?: number;
  zodIssues?: { path: (string | number)[]; message: string }[];
}

export function describeError(error: unknown): ErrorInfo {
  if (!(error instanceof TRPCClientError)) return { code: 'INTERNAL', messageKey: 'error.INTERNAL' };
  const data = (error.data ?? undefined) as ErrorData | undefined;
  if (!data) return { code: 'NETWORK', messageKey: 'error.NETWORK' };
  const code = isAppCode(data.appCode) ? data.appCode : 'INTERNAL';
  const info: ErrorInfo = { code, messageKey: code === 'INTERNAL' ? 'error.INTERNAL' : `error.${code}` };
  if (typeof data.jobId === 'string') info.jobId = data.jobId;
  switch (code) {
    case 'INSUFFICIENT_CREDITS':
      info.action = { key: 'error.INSUFFICIENT_CREDITS.action', to: '/credits#redeem' };
      break;
    case 'CONTENT_REJECTED':
      info.hintKey = 'error.CONTENT_REJECTED.action';
      break;
    case 'UNAUTHENTICATED':
      info.action = { key: 'error.UNAUTHENTICATED.action', to: '/signin' };
      break;
    case 'VALIDATION': {
      const fieldErrors: Record<string, string> = {};
      for (const issue of data.zodIssues ?? []) {
        const field = issue.path.join('.');
        if (field && !fieldErrors[field]) fieldErrors[field] = issue.message;
      }
      info.fieldErrors = fieldErrors;
      info.detail = data.zodIssues?.length
        ? data.zodIssues
            .map((i) => (i.path.length ? `${i.path.join('.')}: ${i.message}` : i.message))
            .join('; ')
        : error.message;
      break;
    }
    case 'NOT_FOUND':
    case 'IDEMPOTENCY_CONFLICT':
      info.detail = error.message;
      break;
    case 'PROVIDER_FAILED':
    case 'PROVIDER_TIMEOUT':
    case 'INTERNAL':
      info.hintKey = 'error.retryHint';
      break;
  }
  return info;
}

/** Job failures arrive as {code, message} on the job view; map them like thrown errors. */
export function describeJobError(error: { code: string; message: string } | undefined): ErrorInfo {
  const code = error && isAppCode(error.code) ? error.code : 'INTERNAL';
  const info: ErrorInfo = { code, messageKey: code === 'INTERNAL' ? 'error.INTERNAL' : `error.${code}` };
  if (code === 'INSUFFICIENT_CREDITS')
    info.action = { key: 'error.INSUFFICIENT_CREDITS.action', to: '/credits#redeem' };
  if (code === 'CONTENT_REJECTED') info.hintKey = 'error.CONTENT_REJECTED.action';
  return info;
}
