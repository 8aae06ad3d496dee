/** The closed list of application error codes (SPEC §5), each with the tRPC code it travels under. */
export const APP_CODES = {
  INSUFFICIENT_CREDITS: 'PAYMENT_REQUIRED',
  VALIDATION: 'BAD_REQUEST',
  UNAUTHENTICATED: 'UNAUTHORIZED',
  FORBIDDEN: 'FORBIDDEN',
  NOT_FOUND: 'NOT_FOUND',
  IDEMPOTENCY_CONFLICT: 'CONFLICT',
  PROVIDER_FAILED: 'BAD_GATEWAY',
  PROVIDER_TIMEOUT: 'GATEWAY_TIMEOUT',
  CONTENT_REJECTED: 'UNPROCESSABLE_CONTENT',
  STORAGE_UPLOAD_FAILED: 'BAD_GATEWAY',
  OUTPUT_INVALID: 'BAD_GATEWAY',
  RATE_LIMITED: 'TOO_MANY_REQUESTS',
  CODE_INVALID: 'BAD_REQUEST',
  CODE_EXPIRED: 'BAD_REQUEST',
  CODE_EXHAUSTED: 'CONFLICT',
  CODE_ALREADY_REDEEMED: 'CONFLICT',
} as const;

export type AppCode = keyof typeof APP_CODES;

export const isAppCode = (value: unknown): value is AppCode =>
  typeof value === 'string' && Object.hasOwn(APP_CODES, value);

/** The one application error: thrown anywhere, mapped to tRPC's code and `data.appCode` by the errorFormatter. */
export class AppError extends Error {
  readonly code: AppCode;
  /** For RATE_LIMITED from a provider: when to try again. */
  readonly retryAfterMs?: number;
  /** Extra fields sent to the client in `data` (e.g. jobId). Never put secrets here. */
  readonly details?: Record<string, string | number | null>;
  /**
   * A stable, more precise reason than the code (e.g. `EMAIL_TAKEN`, `PASSWORD_TOO_COMMON`), sent as
   * `data.reason` with `data.params`, so the client can say it in the user's language. The message
   * stays English for logs and API users.
   */
  readonly reason?: string;
  readonly params?: Record<string, string | number>;
  /** For VALIDATION found after the input schema: the input fields at fault (sent in `data.zodIssues`). */
  readonly fields?: string[];

  constructor(
    code: AppCode,
    message: string,
    options?: {
      cause?: unknown;
      retryAfterMs?: number;
      details?: Record<string, string | number | null>;
      reason?: string;
      params?: Record<string, string | number>;
      fields?: string[];
    },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AppError';
    this.code = code;
    this.retryAfterMs = options?.retryAfterMs;
    this.details = options?.details;
    this.reason = options?.reason;
    this.params = options?.params;
    this.fields = options?.fields;
  }
}

/**
 * The `data.zodIssues` of a VALIDATION refused after the input schema (a size the model does not offer,
 * a taken email): zod-shaped custom issues, one per field at fault (one without a path when no field is),
 * so every VALIDATION carries issues as SPEC says. `params.check` is `server`: the client says these
 * through the error's reason, not as schema messages.
 */
export function serverIssues(
  error: AppError,
): { code: 'custom'; path: string[]; message: string; params: { check: 'server' } }[] {
  const fields = error.fields?.length ? error.fields : [null];
  return fields.map((field) => ({
    code: 'custom',
    path: field === null ? [] : [field],
    message: error.message,
    params: { check: 'server' },
  }));
}

export const isAppError = (error: unknown): error is AppError => error instanceof AppError;
