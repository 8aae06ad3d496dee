import { TRPCClientError } from '@trpc/client';
import { type AppCode, isAppCode } from '../../shared/errors.ts';
import { hasMessage as isMessageKey, type MessageKey, type Translate } from '../i18n/index.tsx';

/**
 * What the UI needs to explain a failure in the user's language: a message key, the next step, and
 * sentences built from the server's codes (appCode, reason + params, zod issues), never its English prose.
 */
export interface ErrorInfo {
  code: AppCode | 'INTERNAL' | 'NETWORK';
  messageKey: MessageKey;
  /** A translated headline that replaces messageKey's (a precise reason, where the general one would guess wrong). */
  title?: string;
  /** A link to the next step, when there is one (INSUFFICIENT_CREDITS → redeem). */
  action?: { key: MessageKey; to: string };
  /** A sentence telling what to do, when there is no link. */
  hintKey?: MessageKey;
  /** The precise reason, translated (from data.reason or the zod issues). */
  detail?: string;
  /** Field → translated message, from zod issues. */
  fieldErrors?: Record<string, string>;
  jobId?: string;
  /** The server's reason code, e.g. EMAIL_TAKEN. */
  reason?: string;
}

/** A zod issue as the server sends it in data.zodIssues (zod 4 shape; only what we read). */
export interface ZodIssueData {
  code?: string;
  path: (string | number)[];
  message?: string;
  minimum?: number | bigint;
  maximum?: number | bigint;
  origin?: string;
  format?: string;
  expected?: string;
}

interface ErrorData {
  appCode?: string;
  jobId?: string;
  httpStatus?: number;
  reason?: string;
  params?: Record<string, string | number>;
  zodIssues?: ZodIssueData[];
}

/** The translated sentence for a reason code, or undefined when we have none (the generic title is enough). */
export function reasonText(
  reason: string | undefined,
  params: Record<string, string | number> = {},
  t: Translate,
) {
  if (!reason) return undefined;
  const key = `reason.${reason}`;
  return isMessageKey(key) ? t(key, params) : undefined;
}

/** One zod issue as a sentence, from its code and limits (the server's English message is not used). */
export function zodIssueText(issue: ZodIssueData, t: Translate): string {
  const name = String(issue.path[issue.path.length - 1] ?? '');
  const fieldKey = `field.${name}`;
  const field = t(isMessageKey(fieldKey) ? fieldKey : 'field.generic');
  const limit = (value: number | bigint | undefined) => Number(value ?? 0);
  const text = issue.origin === 'string';
  switch (issue.code) {
    case 'too_small':
      if (text && limit(issue.minimum) <= 1) return t('zod.required', { field });
      return t(text ? 'zod.tooShort' : 'zod.tooSmall', { field, n: limit(issue.minimum) });
    case 'too_big':
      return t(text ? 'zod.tooLong' : 'zod.tooBig', { field, n: limit(issue.maximum) });
    case 'invalid_format':
      return issue.format === 'email' ? t('zod.email') : t('zod.format', { field });
    case 'invalid_type':
      return issue.expected === 'int' ? t('zod.int', { field }) : t('zod.type', { field });
    case 'invalid_value':
      return t('zod.choice', { field });
    default:
      return t('zod.invalid', { field });
  }
}

const base = (code: ErrorInfo['code']): ErrorInfo => ({ code, messageKey: `error.${code}` });

/**
 * Codes whose general headline guesses the cause ("That code doesn't exist", "That no longer exists"): with a
 * precise reason (CODE_DISABLED, NO_ACCOUNT_WITH_EMAIL) the reason alone is said, so the two never contradict.
 */
const REASON_REPLACES_TITLE = new Set<ErrorInfo['code']>(['CODE_INVALID', 'NOT_FOUND']);

/** Adds the next step each appCode calls for. */
function withNextStep(info: ErrorInfo): ErrorInfo {
  switch (info.code) {
    case 'INSUFFICIENT_CREDITS':
      info.action = { key: 'error.INSUFFICIENT_CREDITS.action', to: '/credits#redeem' };
      break;
    case 'CONTENT_REJECTED':
      info.hintKey = 'error.CONTENT_REJECTED.action';
      break;
    case 'UNAUTHENTICATED':
      if (info.reason !== 'WRONG_CREDENTIALS')
        info.action = { key: 'error.UNAUTHENTICATED.action', to: '/signin' };
      break;
    case 'PROVIDER_FAILED':
    case 'PROVIDER_TIMEOUT':
    case 'INTERNAL':
      info.hintKey = 'error.retryHint';
      break;
  }
  return info;
}

export function describeError(error: unknown, t: Translate): ErrorInfo {
  if (!(error instanceof TRPCClientError)) return withNextStep(base('INTERNAL'));
  const data = (error.data ?? undefined) as ErrorData | undefined;
  if (!data) return base('NETWORK');
  const info = base(isAppCode(data.appCode) ? data.appCode : 'INTERNAL');
  if (typeof data.jobId === 'string') info.jobId = data.jobId;
  if (data.reason) info.reason = data.reason;
  const issues = data.zodIssues ?? [];
  if (issues.length) {
    const fieldErrors: Record<string, string> = {};
    for (const issue of issues) {
      const field = issue.path.join('.');
      if (field && !fieldErrors[field]) fieldErrors[field] = zodIssueText(issue, t);
    }
    info.fieldErrors = fieldErrors;
    info.detail = [...new Set(issues.map((issue) => zodIssueText(issue, t)))].join(' ');
  } else {
    const sentence = reasonText(data.reason, data.params, t);
    if (sentence && REASON_REPLACES_TITLE.has(info.code)) info.title = sentence;
    else info.detail = sentence;
  }
  return withNextStep(info);
}

/** Job failures arrive as {code, message} on the job view; map them like thrown errors (the message is English). */
export function describeJobError(error: { code: string; message: string } | undefined): ErrorInfo {
  return withNextStep(base(error && isAppCode(error.code) ? error.code : 'INTERNAL'));
}
