import { initTRPC, TRPCError } from '@trpc/server';
import superjson from 'superjson';
import { ZodError } from 'zod';
import type { User } from '../db/schema.ts';
import { APP_CODES, type AppCode, AppError, isAppCode, serverIssues } from '../shared/errors.ts';
import { MAX_BATCH_SIZE } from '../shared/limits.ts';
import { type Context, hasEffectiveRole, withEffectiveRole } from './context.ts';
import { logger } from './logger.ts';
import { UNAVAILABLE_MESSAGE, unavailableErrorOf } from './unavailable.ts';

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
    const unavailable = error.code === 'SERVICE_UNAVAILABLE';
    // Never a stack trace or a driver message to the client.
    const message = unavailable
      ? UNAVAILABLE_MESSAGE
      : internal
        ? 'Something went wrong on our side; please try again'
        : // A request nested deeper than the parser's stack: say so, not the engine's words.
          cause instanceof RangeError && /call stack/i.test(cause.message)
          ? 'The input is nested too deeply'
          : // A body or input the parsers could not take (`null`, cut-off JSON, a superjson type that
            // does not apply): the engine's words ("Cannot destructure property…") say nothing useful.
            appCode === 'VALIDATION' && isEngineError(cause)
            ? 'The request could not be read: send the input as JSON, the way the tRPC client does'
            : shape.message;
    return {
      ...shape,
      message,
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
        ...(unavailable ? { reason: 'UNAVAILABLE' } : {}),
        // The adapter's maxBatchSize refusal (tRPC gives it no code of its own).
        ...(error.code === 'BAD_REQUEST' && error.message === 'Batch call exceeds maximum size'
          ? { reason: 'BATCH_TOO_LARGE', params: { maxBatchSize: MAX_BATCH_SIZE } }
          : {}),
        // Every VALIDATION carries zod issues: the schema's, or one per field a later check refused.
        ...(cause instanceof ZodError
          ? { zodIssues: cause.issues }
          : appCode === 'VALIDATION'
            ? {
                zodIssues: serverIssues(
                  cause instanceof AppError ? cause : new AppError('VALIDATION', message),
                ),
              }
            : {}),
      },
    };
  },
});

/** A check a kind of procedure makes before its resolver runs; it throws an AppError to refuse. */
type Gate = (ctx: Context, user: User | null, path: string) => void;

/** Signed in (session or API token). */
const signedIn: Gate = (ctx, user) => {
  if (user) return;
  if (ctx.bearerRejectedReason === 'TOKEN_EXPIRED')
    throw new AppError('UNAUTHENTICATED', 'This API token has expired', { reason: 'TOKEN_EXPIRED' });
  throw new AppError(
    'UNAUTHENTICATED',
    ctx.bearerRejected ? 'Unknown or revoked API token' : 'Sign in first',
  );
};

/**
 * Rate-limited calls (sign-in, sign-up, password, redeem) must come one per HTTP request: inside a batch
 * they would share one request's worth of checks and be evaluated many at a time.
 */
const notBatched: Gate = (ctx, _user, path) => {
  if ((ctx.batchSize ?? 1) > 1) {
    throw new AppError('VALIDATION', `${path} cannot be sent in a batch; send it on its own`, {
      reason: 'BATCH_NOT_ALLOWED',
    });
  }
};

/** ADMIN_EMAILS (verified when SMTP is set) or a stored grant; API tokens need the admin scope. */
const adminOnly: Gate = (_ctx, user) => {
  if (user?.role !== 'admin') throw new AppError('FORBIDDEN', 'Admins only');
};

/** An AppError as tRPC answers it: its tRPC code (hence the HTTP status), its message, itself as cause. */
const trpcErrorOf = (error: AppError) =>
  new TRPCError({ code: APP_CODES[error.code], message: error.message, cause: error });

/**
 * The one middleware of every procedure (tRPC copies a call's options at each middleware, so there is
 * one): the caller's effective role, the procedure kind's gates in order, then the resolver, whose
 * AppErrors become TRPCErrors with the right code; anything unexpected is logged once. `U` is the user
 * the gates guarantee to the resolver (`User` once `signedIn` passed).
 */
function guarded<U extends User | null>(gates: Gate[]) {
  return t.middleware(async ({ ctx, next, path }) => {
    // The caller's role is computed at each request (ADMIN_EMAILS, stored grant, token scope), never
    // trusted from a row. An HTTP request's context already holds it; a context built another way (a
    // server-side caller) gets it here.
    let user: User | null;
    try {
      user =
        ctx.user && !hasEffectiveRole(ctx.user)
          ? withEffectiveRole(ctx.user, ctx.config, ctx.auth)
          : ctx.user;
      for (const gate of gates) gate(ctx, user, path);
    } catch (error) {
      if (error instanceof AppError) throw trpcErrorOf(error);
      logger.error('procedure failed', { requestId: ctx.requestId, path, error });
      throw error;
    }
    // Given a `ctx`, tRPC copies the whole context to merge it; options without one pass the context on
    // as it is, while the type says what the gates established.
    const result = await (user === ctx.user ? next<{ user: U }>({}) : next({ ctx: { user: user as U } }));
    if (!result.ok) {
      const cause = result.error.cause;
      if (cause instanceof AppError) throw trpcErrorOf(cause);
      const unavailable =
        result.error.code === 'INTERNAL_SERVER_ERROR'
          ? unavailableErrorOf(cause, 'procedure', { requestId: ctx.requestId, path })
          : undefined;
      if (unavailable) throw unavailable;
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
}

/** Builds a router from procedures and sub-routers. */
export const router = t.router;
/** Makes a server-side caller for a router (tests and scripts). */
export const createCallerFactory = t.createCallerFactory;
/** A procedure anyone may call. */
export const publicProcedure = t.procedure.use(guarded<User | null>([]));
/** A public procedure with a rate limit: refused inside a batch of more than one call. */
export const rateLimitedProcedure = t.procedure.use(guarded<User | null>([notBatched]));
/** A procedure for a signed-in user (session or API token); `ctx.user` is non-null in it. */
export const authedProcedure = t.procedure.use(guarded<User>([signedIn]));
/** A signed-in procedure with a rate limit (password calls, redeem): refused inside a batch. */
export const rateLimitedAuthedProcedure = t.procedure.use(guarded<User>([signedIn, notBatched]));
/** A procedure for admins only (ADMIN_EMAILS, verified when SMTP is set, or a stored grant; tokens need admin scope). */
export const adminProcedure = t.procedure.use(guarded<User>([signedIn, adminOnly]));
