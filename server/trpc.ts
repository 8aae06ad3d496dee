import { initTRPC, TRPCError } from '@trpc/server';
import superjson from 'superjson';
import { ZodError } from 'zod';
import { APP_CODES, type AppCode, AppError, isAppCode } from '../shared/errors.ts';
import { MAX_BATCH_SIZE } from '../shared/limits.ts';
import { type Context, hasEffectiveRole, withEffectiveRole } from './context.ts';
import { logger } from './logger.ts';

export { MAX_BATCH_SIZE };

const REQUEST_ERRORS = new Set<TRPCError['code']>([
  'BAD_REQUEST',
  'PARSE_ERROR',
  'METHOD_NOT_SUPPORTED',
  'PAYLOAD_TOO_LARGE',
  'UNSUPPORTED_MEDIA_TYPE',
]);

/** The appCode a tRPC error carries to the client (`data.appCode`); INTERNAL for the unexpected. */
export function appCodeOf(error: TRPCError): AppCode | 'INTERNAL' {
  const cause = error.cause;
  if (cause instanceof AppError) return cause.code;
  // Requests the API cannot take as sent: bad input, malformed JSON, the wrong method, too large a body.
  if (cause instanceof ZodError || REQUEST_ERRORS.has(error.code)) return 'VALIDATION';
  if (error.code === 'UNAUTHORIZED') return 'UNAUTHENTICATED';
  if (error.code === 'FORBIDDEN') return 'FORBIDDEN';
  if (error.code === 'NOT_FOUND') return 'NOT_FOUND';
  if (error.code === 'TOO_MANY_REQUESTS') return 'RATE_LIMITED';
  return isAppCode(error.message) ? error.message : 'INTERNAL';
}

/** An error thrown by the runtime itself (parsing, conversion), as opposed to one of ours or zod's. */
const isEngineError = (error: unknown): boolean =>
  error instanceof TypeError || error instanceof SyntaxError || error instanceof RangeError;

/** A zod refusal of a new password for its length, said as a reason the client can translate. */
const tooShortPassword = (error: ZodError): boolean =>
  error.issues.some(
    (i) => i.code === 'too_small' && ['password', 'newPassword'].includes(String(i.path.at(-1) ?? '')),
  );

const t = initTRPC.context<Context>().create({
  transformer: superjson,
  // jobs.watch streams: a comment line every 15 s keeps proxies and clients from timing out a quiet
  // stream; the client reconnects (resuming from lastEventId) when it hears nothing for 40 s.
  sse: { ping: { enabled: true, intervalMs: 15_000 }, client: { reconnectAfterInactivityMs: 40_000 } },
  // Stacks never reach a client (errorFormatter drops them), so tRPC need not format one per error: with
  // source maps that costs more than the rest of a refused request (e.g. an over-cap jobs.watch).
  isDev: false,
  errorFormatter({ shape, error }) {
    const appCode = appCodeOf(error);
    const details = error.cause instanceof AppError ? error.cause.details : undefined;
    const cause = error.cause;
    const internal = appCode === 'INTERNAL';
    return {
      ...shape,
      // Never a stack trace or a driver message to the client.
      message: internal
        ? 'Something went wrong on our side; please try again'
        : // A request nested deeper than the parser's stack: say so, not the engine's words.
          cause instanceof RangeError && /call stack/i.test(cause.message)
          ? 'The input is nested too deeply'
          : // A body or input the parsers could not take (`null`, cut-off JSON, a superjson type that
            // does not apply): the engine's words ("Cannot destructure property…") say nothing useful.
            appCode === 'VALIDATION' && isEngineError(cause)
            ? 'The request could not be read: send the input as JSON, the way the tRPC client does'
            : shape.message,
      data: {
        code: shape.data.code,
        httpStatus: shape.data.httpStatus,
        path: shape.data.path,
        appCode,
        ...details,
        ...(cause instanceof AppError && cause.reason
          ? { reason: cause.reason, ...(cause.params ? { params: cause.params } : {}) }
          : {}),
        ...(cause instanceof ZodError && tooShortPassword(cause) ? { reason: 'PASSWORD_TOO_SHORT' } : {}),
        // The adapter's maxBatchSize refusal (tRPC gives it no code of its own).
        ...(error.code === 'BAD_REQUEST' && error.message === 'Batch call exceeds maximum size'
          ? { reason: 'BATCH_TOO_LARGE', params: { maxBatchSize: MAX_BATCH_SIZE } }
          : {}),
        ...(cause instanceof ZodError ? { zodIssues: cause.issues } : {}),
      },
    };
  },
});

/** Maps AppError to a TRPCError with the right tRPC code; logs anything unexpected once. */
const errorMapping = t.middleware(async ({ ctx, next, path }) => {
  const result = await next();
  if (!result.ok) {
    const cause = result.error.cause;
    if (cause instanceof AppError) {
      throw new TRPCError({ code: APP_CODES[cause.code], message: cause.message, cause });
    }
    if (result.error.code === 'INTERNAL_SERVER_ERROR') {
      logger.error('procedure failed', {
        requestId: ctx.requestId,
        path,
        error: result.error.cause ?? result.error,
      });
    }
  }
  return result;
});

/**
 * The caller's role is computed at each request (ADMIN_EMAILS, stored grant, token scope), never trusted
 * from a row. An HTTP request's context already holds the computed user; a context built another way
 * (a server-side caller) gets it here. Passing the context on unchanged spares tRPC a copy of it.
 */
const effectiveUser = t.middleware(({ ctx, next }) =>
  !ctx.user || hasEffectiveRole(ctx.user)
    ? next()
    : next({ ctx: { user: withEffectiveRole(ctx.user, ctx.config, ctx.auth) } }),
);

/**
 * Rate-limited calls (sign-in, sign-up, password, redeem) must come one per HTTP request: inside a batch
 * they would share one request's worth of checks and be evaluated many at a time.
 */
const assertNotBatched = (ctx: Context, path: string) => {
  if ((ctx.batchSize ?? 1) > 1) {
    throw new AppError('VALIDATION', `${path} cannot be sent in a batch; send it on its own`, {
      reason: 'BATCH_NOT_ALLOWED',
    });
  }
};

/** Builds a router from procedures and sub-routers. */
export const router = t.router;
/** Makes a server-side caller for a router (tests and scripts). */
export const createCallerFactory = t.createCallerFactory;
/** A procedure anyone may call. */
export const publicProcedure = t.procedure.use(errorMapping).use(effectiveUser);
/** A public procedure with a rate limit: refused inside a batch of more than one call. */
export const rateLimitedProcedure = publicProcedure.use(({ ctx, path, next }) => {
  assertNotBatched(ctx, path);
  return next();
});
/** A procedure for a signed-in user (session or API token); `ctx.user` is non-null after it. */
export const authedProcedure = publicProcedure.use(({ ctx, next }) => {
  if (!ctx.user) {
    if (ctx.bearerRejectedReason === 'TOKEN_EXPIRED')
      throw new AppError('UNAUTHENTICATED', 'This API token has expired', { reason: 'TOKEN_EXPIRED' });
    throw new AppError(
      'UNAUTHENTICATED',
      ctx.bearerRejected ? 'Unknown or revoked API token' : 'Sign in first',
    );
  }
  // Only what changes: tRPC merges it into the context (the user, now known to be there).
  return next({ ctx: { user: ctx.user } });
});
/** A signed-in procedure with a rate limit (password calls, redeem): refused inside a batch. */
export const rateLimitedAuthedProcedure = authedProcedure.use(({ ctx, path, next }) => {
  assertNotBatched(ctx, path);
  return next();
});
/** A procedure for admins only (ADMIN_EMAILS, verified when SMTP is set, or a stored grant; tokens need admin scope). */
export const adminProcedure = authedProcedure.use(({ ctx, next }) => {
  if (ctx.user.role !== 'admin') throw new AppError('FORBIDDEN', 'Admins only');
  return next();
});
