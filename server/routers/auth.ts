import type { User } from '../../db/schema.ts';
import { AppError } from '../../shared/errors.ts';
import {
  AuditListInput,
  ChangePasswordInput,
  CreateApiTokenInput,
  RequestPasswordResetInput,
  ResetPasswordInput,
  RevokeApiTokenInput,
  SignInInput,
  SignUpInput,
  VerifyEmailInput,
} from '../../shared/schemas/auth.ts';
import { type Context, withEffectiveRole } from '../context.ts';
import type { Env } from '../env.ts';
import { listAudit } from '../services/audit.ts';
import * as auth from '../services/auth.ts';
import { mailerFor } from '../services/mail.ts';
import {
  adminProcedure,
  authedProcedure,
  publicProcedure,
  rateLimitedAuthedProcedure,
  rateLimitedProcedure,
  router,
} from '../trpc.ts';
import { userView } from '../views.ts';

const DAY = 24 * 3600 * 1000;

const authConfig = (config: Env): auth.AuthConfig => ({
  adminEmails: config.ADMIN_EMAILS,
  signupBonusCredits: config.SIGNUP_BONUS_CREDITS,
  signupsPerIpPerHour: config.SIGNUPS_PER_IP_PER_HOUR,
  mailer: mailerFor(config),
  // Never the request's Host header: a forged one would send reset links to another site.
  linkBase: (config.PUBLIC_URL ?? `http://${config.HOST}:${config.PORT}`).replace(/\/+$/, ''),
});

/** The user as this request sees it: the role computed now (ADMIN_EMAILS, grant), never the stored one alone. */
const view = (ctx: Pick<Context, 'config'>, user: User) => userView(withEffectiveRole(user, ctx.config));

export const authRouter = router({
  signUp: rateLimitedProcedure.input(SignUpInput).mutation(async ({ ctx, input }) => {
    const { user, sessionToken, expiresAt } = await auth.signUp(ctx.db, authConfig(ctx.config), {
      ...input,
      ip: ctx.ip,
      requestId: ctx.requestId,
      now: ctx.clock.now(),
    });
    ctx.cookies.setSession(sessionToken, expiresAt);
    return { user: view(ctx, user) };
  }),

  signIn: rateLimitedProcedure.input(SignInInput).mutation(async ({ ctx, input }) => {
    const { user, sessionToken, expiresAt } = await auth.signIn(ctx.db, {
      ...input,
      ip: ctx.ip,
      requestId: ctx.requestId,
      now: ctx.clock.now(),
    });
    ctx.cookies.setSession(sessionToken, expiresAt);
    return { user: view(ctx, user) };
  }),

  signOut: publicProcedure.mutation(async ({ ctx }) => {
    if (ctx.sessionToken) await auth.signOut(ctx.db, ctx.sessionToken);
    ctx.cookies.clearSession();
    return null;
  }),

  /** Ends every session of this account, this one included. */
  signOutEverywhere: authedProcedure.mutation(async ({ ctx }) => {
    await auth.signOutEverywhere(ctx.db, {
      userId: ctx.user.id,
      ip: ctx.ip,
      requestId: ctx.requestId,
      now: ctx.clock.now(),
    });
    ctx.cookies.clearSession();
    return null;
  }),

  /** `{user}` when signed in (session or API token), `null` otherwise (SPEC §5). */
  me: publicProcedure.query(({ ctx }) => (ctx.user ? { user: userView(ctx.user) } : null)),

  /** Confirms the address from the emailed link; the sign-up bonus comes with it when SMTP is set. */
  verifyEmail: publicProcedure.input(VerifyEmailInput).mutation(async ({ ctx, input }) => {
    const user = await auth.verifyEmail(ctx.db, authConfig(ctx.config), {
      token: input.token,
      requestId: ctx.requestId,
      now: ctx.clock.now(),
    });
    return { user: view(ctx, user) };
  }),

  resendVerification: rateLimitedAuthedProcedure.mutation(async ({ ctx }) => ({
    sent: await auth.resendVerification(ctx.db, authConfig(ctx.config), {
      userId: ctx.user.id,
      requestId: ctx.requestId,
      now: ctx.clock.now(),
    }),
  })),

  /** Always answers the same, whether the account exists or not. */
  requestPasswordReset: rateLimitedProcedure
    .input(RequestPasswordResetInput)
    .mutation(async ({ ctx, input }) => {
      await auth.requestPasswordReset(ctx.db, authConfig(ctx.config), {
        email: input.email,
        ip: ctx.ip,
        requestId: ctx.requestId,
        now: ctx.clock.now(),
      });
      return { sent: true };
    }),

  resetPassword: rateLimitedProcedure.input(ResetPasswordInput).mutation(async ({ ctx, input }) => {
    const { user, sessionToken, expiresAt } = await auth.resetPassword(ctx.db, authConfig(ctx.config), {
      ...input,
      ip: ctx.ip,
      requestId: ctx.requestId,
      now: ctx.clock.now(),
    });
    ctx.cookies.setSession(sessionToken, expiresAt);
    return { user: view(ctx, user) };
  }),

  /** Needs the browser session (not an API token); every other session of the account ends. */
  changePassword: rateLimitedAuthedProcedure.input(ChangePasswordInput).mutation(async ({ ctx, input }) => {
    if (!ctx.sessionToken || ctx.auth?.kind === 'token') {
      throw new AppError('FORBIDDEN', 'Change the password from a signed-in browser', {
        reason: 'SESSION_REQUIRED',
      });
    }
    await auth.changePassword(ctx.db, {
      userId: ctx.user.id,
      sessionToken: ctx.sessionToken,
      ...input,
      ip: ctx.ip,
      requestId: ctx.requestId,
      now: ctx.clock.now(),
    });
    return null;
  }),
});

export const apiTokensRouter = router({
  /** Only from a session (a token cannot mint tokens); admin power only for an admin who asks for it. */
  create: authedProcedure.input(CreateApiTokenInput).mutation(({ ctx, input }) => {
    if (ctx.auth?.kind === 'token') {
      throw new AppError('FORBIDDEN', 'An API token cannot create API tokens', {
        reason: 'TOKEN_CANNOT_MINT',
      });
    }
    if (input.admin && ctx.user.role !== 'admin') {
      throw new AppError('FORBIDDEN', 'Only an admin can create an admin token', {
        reason: 'ADMIN_SCOPE_NOT_ALLOWED',
      });
    }
    const now = ctx.clock.now();
    return auth.createApiToken(ctx.db, {
      userId: ctx.user.id,
      name: input.name,
      now,
      expiresAt: input.expiresInDays ? now + input.expiresInDays * DAY : null,
      scope: input.admin ? 'admin' : 'user',
      ip: ctx.ip,
      requestId: ctx.requestId,
    });
  }),

  list: authedProcedure.query(async ({ ctx }) => {
    const rows = await auth.listApiTokens(ctx.db, ctx.user.id);
    return rows.map((r) => ({
      id: r.id,
      name: r.name,
      prefix: r.token_prefix,
      lastUsedAt: r.last_used_at === null ? null : new Date(r.last_used_at),
      revokedAt: r.revoked_at === null ? null : new Date(r.revoked_at),
      expiresAt: r.expires_at === null ? null : new Date(r.expires_at),
      scope: r.scope,
      createdAt: new Date(r.created_at),
    }));
  }),

  revoke: authedProcedure.input(RevokeApiTokenInput).mutation(async ({ ctx, input }) => {
    await auth.revokeApiToken(ctx.db, { userId: ctx.user.id, id: input.id, now: ctx.clock.now() });
    return { id: input.id };
  }),
});

export const adminAuditRouter = router({
  /** Security events, newest first: sign-ins, sign-ups, password changes, grants, code batches, tokens. */
  list: adminProcedure.input(AuditListInput).query(({ ctx, input }) => listAudit(ctx.db, input)),
});
