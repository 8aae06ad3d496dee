import type { IncomingMessage } from 'node:http';

/** What is known about an HTTP request; its log lines carry its id. */
export interface RequestScope {
  requestId: string;
  userId?: string;
}

/**
 * The scope of each request in flight, kept with the request itself and handed on explicitly (the tRPC
 * context's `requestId`), not through AsyncLocalStorage: on Node 20 that installs a hook on every
 * promise the process makes, requests or not, which cost the pipeline about 15 % of its CPU
 * (bench/pipeline; docs/pipeline.md).
 */
const scopes = new WeakMap<IncomingMessage, RequestScope>();

export const attachRequestScope = (req: IncomingMessage, scope: RequestScope): void => {
  scopes.set(req, scope);
};

/** The scope `requestLogging` gave this request, if it passed through it. */
export const requestScopeOf = (req: IncomingMessage): RequestScope | undefined => scopes.get(req);
