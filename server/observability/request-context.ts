import { AsyncLocalStorage } from 'node:async_hooks';

/** What is known about the HTTP request the current code runs for; log lines carry its id. */
export interface RequestScope {
  requestId: string;
  userId?: string;
  /** tRPC procedure(s) of the request, filled in by the tRPC context. */
  procedures?: string[];
}

const storage = new AsyncLocalStorage<RequestScope>();

/** Runs `fn` within a request scope: everything it awaits, logs and starts sees the same scope. */
export const runInRequest = <T>(scope: RequestScope, fn: () => T): T => storage.run(scope, fn);

/** The scope of the request the current code runs for, if any. */
export const currentRequest = (): RequestScope | undefined => storage.getStore();
