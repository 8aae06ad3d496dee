import { TRPCError } from '@trpc/server';
import { databaseUnavailable } from '../db/dialect.ts';
import { logger } from './logger.ts';

export const UNAVAILABLE_MESSAGE = 'The service is briefly unavailable; please try again in a moment';

/**
 * The 503 for `error` when it says the database did not answer now (see `databaseUnavailable`), logged
 * once as a warning (`<what> failed: the database did not answer`, with `fields` and the code, no
 * stack); undefined for any other error. SERVICE_UNAVAILABLE gets appCode INTERNAL and reason
 * UNAVAILABLE from the error formatter, so clients and load balancers retry, where a 500 says the call
 * itself is broken.
 */
export function unavailableErrorOf(
  error: unknown,
  what: string,
  fields: Record<string, unknown>,
): TRPCError | undefined {
  const code = databaseUnavailable(error);
  if (!code) return undefined;
  logger.warn(`${what} failed: the database did not answer`, { ...fields, code });
  return new TRPCError({ code: 'SERVICE_UNAVAILABLE', message: UNAVAILABLE_MESSAGE, cause: error });
}
