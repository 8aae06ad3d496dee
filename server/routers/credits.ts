import { AppError } from '../../shared/errors.ts';
import { AdminUsersListInput, CreditsHistoryInput, GrantCreditsInput } from '../../shared/schemas/credits.ts';
import { getBalance, grantCredits, listLedger } from '../services/billing.ts';
import { adminProcedure, authedProcedure, router } from '../trpc.ts';
import { ledgerView, userView } from '../views.ts';

export const creditsRouter = router({
  balance: authedProcedure.query(async ({ ctx }) => ({ balance: await getBalance(ctx.db, ctx.user.id) })),

  history: authedProcedure.input(CreditsHistoryInput).query(async ({ ctx, input }) => {
    const page = await listLedger(ctx.db, { userId: ctx.user.id, cursor: input.cursor, limit: input.limit });
    return { items: page.items.map(ledgerView), nextCursor: page.nextCursor };
  }),
});

export const adminCreditsRouter = router({
  grant: adminProcedure.input(GrantCreditsInput).mutation(async ({ ctx, input }) => {
    const user = await ctx.db
      .selectFrom('users')
      .select('id')
      .where('email', '=', input.email)
      .executeTakeFirst();
    if (!user) throw new AppError('NOT_FOUND', `No account with email ${input.email}`);
    return grantCredits(ctx.db, {
      userId: user.id,
      amount: input.amount,
      note: input.note || `Granted by ${ctx.user.email}`,
      now: ctx.clock.now(),
    });
  }),
});

export const adminUsersRouter = router({
  list: adminProcedure.input(AdminUsersListInput).query(async ({ ctx, input }) => {
    let query = ctx.db
      .selectFrom('users')
      .selectAll()
      .orderBy('id', 'desc')
      .limit(input.limit + 1);
    if (input.cursor) query = query.where('id', '<', input.cursor);
    if (input.search)
      query = query.where('email', 'like', `%${input.search.toLowerCase().replace(/[%_\\]/g, '\\$&')}%`);
    const rows = await query.execute();
    const items = rows.slice(0, input.limit);
    return {
      items: items.map((u) => ({ ...userView(u), createdAt: new Date(u.created_at) })),
      nextCursor: rows.length > input.limit ? (items.at(-1)?.id ?? null) : null,
    };
  }),
});
