import {
  CreateApiTokenInput,
  RevokeApiTokenInput,
  SignInInput,
  SignUpInput,
} from '../../shared/schemas/auth.ts';
import * as auth from '../services/auth.ts';
import { authedProcedure, publicProcedure, router } from '../trpc.ts';
import { userView } from '../views.ts';

const authConfig = (config: { ADMIN_EMAILS: string[]; SIGNUP_BONUS_CREDITS: number }) => ({
  adminEmails: config.ADMIN_EMAILS,
  signupBonusCredits: config.SIGNUP_BONUS_CREDITS,
});

export const authRouter = router({
  signUp: publicProcedure.input(SignUpInput).mutation(async ({ ctx, input }) => {
    const { user, sessionToken, expiresAt } = await auth.signUp(ctx.db, authConfig(ctx.config), {
      ...input,
      now: ctx.clock.now(),
    });
    ctx.cookies.setSession(sessionToken, expiresAt);
    return { user: userView(user) };
  }),

  signIn: publicProcedure.input(SignInInput).mutation(async ({ ctx, input }) => {
    const { user, sessionToken, expiresAt } = await auth.signIn(ctx.db, authConfig(ctx.config), {
      ...input,
      ip: ctx.ip,
      now: ctx.clock.now(),
    });
    ctx.cookies.setSession(sessionToken, expiresAt);
    return { user: userView(user) };
  }),

  signOut: publicProcedure.mutation(async ({ ctx }) => {
    if (ctx.sessionToken) await auth.signOut(ctx.db, ctx.sessionToken);
    ctx.cookies.clearSession();
    return null;
  }),

  /** `{user}` when signed in (session or API token), `null` otherwise (SPEC §5). */
  me: publicProcedure.query(({ ctx }) => (ctx.user ? { user: userView(ctx.user) } : null)),
});

export const apiTokensRouter = router({
  create: authedProcedure
    .input(CreateApiTokenInput)
    .mutation(({ ctx, input }) =>
      auth.createApiToken(ctx.db, { userId: ctx.user.id, name: input.name, now: ctx.clock.now() }),
    ),

  list: authedProcedure.query(async ({ ctx }) => {
    const rows = await auth.listApiTokens(ctx.db, ctx.user.id);
    return rows.map((r) => ({
      id: r.id,
      name: r.name,
      prefix: r.token_prefix,
      lastUsedAt: r.last_used_at === null ? null : new Date(r.last_used_at),
      revokedAt: r.revoked_at === null ? null : new Date(r.revoked_at),
      createdAt: new Date(r.created_at),
    }));
  }),

  revoke: authedProcedure.input(RevokeApiTokenInput).mutation(async ({ ctx, input }) => {
    await auth.revokeApiToken(ctx.db, { userId: ctx.user.id, id: input.id, now: ctx.clock.now() });
    return { id: input.id };
  }),
});
