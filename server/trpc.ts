import { initTRPC, TRPCError } from '@trpc/server';
import superjson from 'superjson';
import { ZodError } from 'zod';
import { APP_CODES, type AppCode, AppError, isAppCode } from '../shared/errors.ts';
import type { Context } from './context.ts';
import { logger } from './logger.ts';

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
      message: internal ? 'Something went wrong on our side; please try again' : shape.message,
      data: {
        code: shape.data.code,
        httpStatus: shape.data.httpStatus,
        path: shape.data.path,
        appCode,
        ...details,
        ...(cause instanceof AppError && cause.reason
          ? { reason: cause.reason, ...(cause.params ? { params: cause.params } : {}) }
          : {}),
        ...(cause instanceof ZodError ? { zodIssues: cause.issues } : {}),
      },
    };
  },
});

/** Maps AppError to a TRPCError with the right tRPC code; logs anything unexpected once. */
const errorMapping = t.middleware(async ({ next, path }) => {
  const result = await next();
  if (!result.ok) {
    const cause = result.error.cause;
    if (cause instanceof AppError) {
      throw new TRPCError({ code: APP_CODES[cause.code], message: cause.message, cause });
    }
    if (result.error.code === 'INTERNAL_SERVER_ERROR') {
      logger.error('procedure failed', { path, error: result.error.cause ?? result.error });
    }
  }
  return result;
});

/** Builds a router from procedures and sub-routers. */
export const router = t.router;
/** Makes a server-side caller for a router (tests and scripts). */
export const createCallerFactory = t.createCallerFactory;
/** A procedure anyone may call. */
export const publicProcedure = t.procedure.use(errorMapping);
/** A procedure for a signed-in user (session or API token); `ctx.user` is non-null after it. */
export const authedProcedure = publicProcedure.use(({ ctx, next }) => {
  if (!ctx.user) {
    throw new AppError(
      'UNAUTHENTICATED',
      ctx.bearerRejected ? 'Unknown or revoked API token' : 'Sign in first',
    );
  }
  return next({ ctx: { ...ctx, user: ctx.user } });
});
/** A procedure for admins only (role from ADMIN_EMAILS). */
export const adminProcedure = authedProcedure.use(({ ctx, next }) => {
  if (ctx.user.role !== 'admin') throw new AppError('FORBIDDEN', 'Admins only');
  return next();
});
