import type { RequestListener } from 'node:http';
import http from 'node:http';

/**
 * How long a client may take to send a request. Node's defaults (headers 60 s, the whole request 300 s,
 * checked every 30 s) let one address hold thousands of sockets with bodies trickled a byte at a time
 * for five minutes each. A request, once received, may take as long as its answer does: a waiting
 * `ai.generateImage` or a `jobs.watch` stream is not bound by these.
 */
export const REQUEST_TIMEOUTS = {
  headersTimeout: 20_000,
  requestTimeout: 30_000,
  connectionsCheckingInterval: 5_000,
};

/** The HTTP server for the app, with the timeouts above (tests pass shorter ones). */
export function createHttpServer(
  app: RequestListener,
  timeouts: typeof REQUEST_TIMEOUTS = REQUEST_TIMEOUTS,
): http.Server {
  return http.createServer(timeouts, app);
}
