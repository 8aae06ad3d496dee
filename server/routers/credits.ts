import { AdminUsersListInput, CreditsHistoryInput, GrantCreditsInput } from '../../shared/schemas/credits.ts';
import { withEffectiveRole } from '../context.ts';
import { audit } from '../services/audit.ts';
import { listUsers } from '../services/auth.ts';
import { getBalance, grantCreditsByEmail, listLedgerWithJobs } from '../services/billing.ts';
import { adminProcedure, authedProcedure, router } from '../trpc.ts';
import { ledgerView, userView } from '../views.ts';

export const creditsRouter = router({
  balance: authedProcedure.query(async ({ ctx }) => ({ balance: await getBalance(ctx.db, ctx.user.id) })),

  history: authedProcedure.input(CreditsHistoryInput).query(async ({ ctx, input }) => {
    const page = await listLedgerWithJobs(ctx.db, {
      userId: ctx.user.id,
      cursor: input.cursor,
      limit: input.limit,
    });
    return { items: page.items.map(ledgerView), nextCursor: page.nextCursor };
  }),
});

export const adminCreditsRouter = router({
  grant: adminProcedure.input(GrantCreditsInput).mutation(async ({ ctx, input }) => {
    const result = await grantCreditsByEmail(ctx.db, {
      email: input.email,
      amount: input.amount,
      note: input.note || `Granted by ${ctx.user.email}`,
      now: ctx.clock.now(),
    });
    await audit(ctx.db, {
      action: 'credits.granted',
      actorUserId: ctx.user.id,
      subject: input.email,
      ip: ctx.ip,
      requestId: ctx.requestId,
      details: { kind: 'credits', credits: input.amount },
      now: ctx.clock.now(),
    });
    return result;
  }),
});

export const adminUsersRouter = router({
  list: adminProcedure.input(AdminUsersListInput).query(async ({ ctx, input }) => {
    const page = await listUsers(ctx.db, input);
    return {
      // The role as it acts now (ADMIN_EMAILS, verification, stored grant), not the stored grant alone.
      items: page.items.map((u) => ({
        ...userView(withEffectiveRole(u, ctx.config)),
        createdAt: new Date(u.created_at),
      })),
      nextCursor: page.nextCursor,
    };
  }),
});
