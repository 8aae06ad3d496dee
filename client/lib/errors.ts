import { TRPCClientError } from '@trpc/client';
import { type AppCode, isAppCode } from '../../shared/errors.ts';
import { hasMessage as isMessageKey, type MessageKey, type Translate } from '../i18n/index.tsx';
import { HttpStatusError } from './trpc.ts';

/**
 * What the UI needs to explain a failure in the user's language: a message key, the next step, and
 * sentences built from the server's codes (appCode, reason + params, zod issues), never its English prose.
 */
export interface ErrorInfo {
  /** NETWORK: no answer at all; SERVER_ERROR / UNAVAILABLE: an answer, but not the API's (a proxy's error page). */
  code: AppCode | 'INTERNAL' | 'NETWORK' | 'SERVER_ERROR' | 'UNAVAILABLE';
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
  /** false: the limit itself is out (`.positive()` is minimum 0, not inclusive). */
  inclusive?: boolean;
  origin?: string;
  format?: string;
  expected?: string;
  /** `{ check: 'server' }` on an issue a check after the schema raised: its error's reason says it. */
  params?: { check?: string };
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
  const exclusive = issue.inclusive === false;
  switch (issue.code) {
    case 'too_small':
      if (text && limit(issue.minimum) <= 1) return t('zod.required', { field });
      if (!text && exclusive) return t('zod.greaterThan', { field, n: limit(issue.minimum) });
      return t(text ? 'zod.tooShort' : 'zod.tooSmall', { field, n: limit(issue.minimum) });
    case 'too_big':
      if (!text && exclusive) return t('zod.lessThan', { field, n: limit(issue.maximum) });
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

/** Gateway statuses: the server behind the proxy is down or restarting, not broken. */
const UNAVAILABLE_STATUSES = new Set([502, 503, 504]);

/**
 * Without the API's data: no answer at all is a network problem; an answer that is not ours (a status from
 * a proxy, a body that is not JSON) is the server's problem, and says so rather than blaming the connection.
 */
function withoutData(error: TRPCClientError<any>): ErrorInfo {
  const response = (error.meta as { response?: Response } | undefined)?.response;
  const status = error.cause instanceof HttpStatusError ? error.cause.status : response?.status;
  if (status !== undefined && UNAVAILABLE_STATUSES.has(status)) return base('UNAVAILABLE');
  if (status !== undefined || error.cause instanceof SyntaxError) return base('SERVER_ERROR');
  return base('NETWORK');
}

export function describeError(error: unknown, t: Translate): ErrorInfo {
  if (!(error instanceof TRPCClientError)) return withNextStep(base('INTERNAL'));
  const data = (error.data ?? undefined) as ErrorData | undefined;
  if (!data) return withoutData(error);
  // The server could not reach its database (or another service it needs): said as the service being
  // briefly unavailable, as a proxy's 503 is, not as a fault.
  if (data.httpStatus === 503 && !isAppCode(data.appCode)) return base('UNAVAILABLE');
  const info = base(isAppCode(data.appCode) ? data.appCode : 'INTERNAL');
  if (typeof data.jobId === 'string') info.jobId = data.jobId;
  if (data.reason) info.reason = data.reason;
  // The schema's issues are said field by field; a later check's (a taken email, a size the model does
  // not offer) are said by their reason, as one sentence.
  const issues = (data.zodIssues ?? []).filter((issue) => issue.params?.check !== 'server');
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
