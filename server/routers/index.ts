import { router } from '../trpc.ts';
import { adminJobsRouter, aiRouter, jobsRouter, outputsRouter } from './ai.ts';
import { adminAuditRouter, apiTokensRouter, authRouter } from './auth.ts';
import { adminCreditsRouter, adminUsersRouter, creditsRouter } from './credits.ts';
import { adminCodesRouter, redeemRouter } from './redeem.ts';

/** The whole API. Clients import only `type AppRouter`. */
export const appRouter = router({
  auth: authRouter,
  apiTokens: apiTokensRouter,
  credits: creditsRouter,
  ai: aiRouter,
  jobs: jobsRouter,
  outputs: outputsRouter,
  redeem: redeemRouter,
  admin: router({
    credits: adminCreditsRouter,
    users: adminUsersRouter,
    codes: adminCodesRouter,
    jobs: adminJobsRouter,
    audit: adminAuditRouter,
  }),
});

export type AppRouter = typeof appRouter;
