import { router } from '../trpc.ts';
import { apiTokensRouter, authRouter } from './auth.ts';
import { adminCreditsRouter, adminUsersRouter, creditsRouter } from './credits.ts';

/** The whole API. Clients import only `type AppRouter`. */
export const appRouter = router({
  auth: authRouter,
  apiTokens: apiTokensRouter,
  credits: creditsRouter,
  admin: router({
    credits: adminCreditsRouter,
    users: adminUsersRouter,
  }),
});

export type AppRouter = typeof appRouter;
