import {
  CreateCodesInput,
  DisableCodesInput,
  ListBatchesInput,
  RedeemInput,
} from '../../shared/schemas/redeem.ts';
import { audit } from '../services/audit.ts';
import { codesCsv, createCodeBatch, disableCodes, listBatches, redeemCode } from '../services/redeem.ts';
import { adminProcedure, rateLimitedAuthedProcedure, router } from '../trpc.ts';

export const redeemRouter = router({
  redeem: rateLimitedAuthedProcedure
    .input(RedeemInput)
    .mutation(({ ctx, input }) =>
      redeemCode(ctx.db, { userId: ctx.user.id, code: input.code, ip: ctx.ip, now: ctx.clock.now() }),
    ),
});

export const adminCodesRouter = router({
  /** The plaintext codes (and their CSV) are in this answer only; the database keeps hashes. */
  create: adminProcedure.input(CreateCodesInput).mutation(async ({ ctx, input }) => {
    const { batchId, codes } = await createCodeBatch(ctx.db, {
      ...input,
      createdBy: ctx.user.id,
      now: ctx.clock.now(),
    });
    await audit(ctx.db, {
      action: 'codes.created',
      actorUserId: ctx.user.id,
      subject: batchId,
      ip: ctx.ip,
      requestId: ctx.requestId,
      details: { kind: 'codes', count: input.count, credits: input.credits },
      now: ctx.clock.now(),
    });
    const csv = codesCsv({
      batchId,
      codes,
      credits: input.credits,
      maxRedemptions: input.maxRedemptions,
      expiresAt: input.expiresAt ?? null,
    });
    return { batchId, codes, csv };
  }),

  list: adminProcedure.input(ListBatchesInput).query(({ ctx, input }) => listBatches(ctx.db, input)),

  disable: adminProcedure
    .input(DisableCodesInput)
    .mutation(({ ctx, input }) => disableCodes(ctx.db, { ...input, now: ctx.clock.now() })),
});
