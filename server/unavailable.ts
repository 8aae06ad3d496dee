import { TRPCError } from '@trpc/server';

export const UNAVAILABLE_MESSAGE = 'The service is briefly unavailable; please try again in a moment';

/**
 * The database (or a service the call needs) not answering now: 503 SERVICE_UNAVAILABLE, which the error
 * formatter gives appCode INTERNAL and reason UNAVAILABLE, so clients and load balancers retry, where a
 * 500 says the call itself is broken.
 */
export const unavailableError = (cause: unknown) =>
  new TRPCError({ code: 'SERVICE_UNAVAILABLE', message: UNAVAILABLE_MESSAGE, cause });
