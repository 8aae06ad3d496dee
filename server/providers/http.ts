import { AppError } from '../../shared/errors.ts';
import { providerCall } from '../observability/metrics.ts';

/** AppError.reason of a request that never reached the provider (connection refused, DNS, reset). */
export const UNREACHABLE = 'PROVIDER_UNREACHABLE';

/** Resolves after `ms`, or rejects with the signal's reason when it aborts first. */
export const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });

/** Removes API keys (the configured ones and anything shaped like `sk-…`) from text meant for logs or users. */
export const redact = (text: string, secrets: readonly string[]): string => {
  let out = text;
  for (const secret of secrets) if (secret.length >= 4) out = out.split(secret).join('***');
  return out.replace(/\bsk-[A-Za-z0-9_*.-]{3,}/g, 'sk-***');
};

/**
 * A token bucket: `take()` waits until a request may go out. One per adapter instance keeps DashScope's
 * 20 queries per second per account.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;
  constructor(
    private readonly perSecond: number,
    private readonly capacity = perSecond,
  ) {
    this.tokens = capacity;
    this.last = Date.now();
  }

  async take(signal?: AbortSignal): Promise<void> {
    for (;;) {
      const now = Date.now();
      this.tokens = Math.min(this.capacity, this.tokens + ((now - this.last) / 1000) * this.perSecond);
      this.last = now;
      if (this.tokens >= 1) {
        this.tokens -= 1;
        return;
      }
      await sleep(Math.ceil(((1 - this.tokens) / this.perSecond) * 1000), signal);
    }
  }
}

export interface HttpRequest {
  method: 'GET' | 'POST';
  url: string;
  headers?: Record<string, string>;
  /** Sent as JSON. */
  body?: unknown;
  timeoutMs: number;
  signal?: AbortSignal;
  /** Provider name for error messages. */
  provider: string;
}

export interface HttpResponse {
  status: number;
  headers: Headers;
  /** Parsed JSON body, or undefined when the body is not JSON. */
  json: unknown;
}

/**
 * One HTTP exchange with a timeout. A timeout becomes PROVIDER_TIMEOUT and a network failure
 * PROVIDER_FAILED; an abort by the caller's own signal is rethrown as is.
 */
export const sendJson = async (request: HttpRequest): Promise<HttpResponse> => {
  const timeout = AbortSignal.timeout(request.timeoutMs);
  const signal = request.signal ? AbortSignal.any([request.signal, timeout]) : timeout;
  const startedAt = performance.now();
  try {
    const response = await fetch(request.url, {
      method: request.method,
      headers: {
        ...(request.body === undefined ? {} : { 'Content-Type': 'application/json' }),
        ...request.headers,
      },
      body: request.body === undefined ? undefined : JSON.stringify(request.body),
      signal,
    });
    const text = await response.text();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    providerCall(request.provider.toLowerCase(), request.method, startedAt, response.status);
    return { status: response.status, headers: response.headers, json };
  } catch (error) {
    if (request.signal?.aborted) throw request.signal.reason;
    providerCall(
      request.provider.toLowerCase(),
      request.method,
      startedAt,
      timeout.aborted ? 'timeout' : 'network',
    );
    if (timeout.aborted) {
      throw new AppError(
        'PROVIDER_TIMEOUT',
        `${request.provider} did not answer within ${request.timeoutMs} ms`,
        {
          cause: error,
        },
      );
    }
    // Nothing reached the provider, so nothing was created there: safe to try again later.
    if (neverSent(error)) {
      throw new AppError('PROVIDER_FAILED', `${request.provider} could not be reached`, {
        cause: error,
        reason: UNREACHABLE,
      });
    }
    // The connection broke after the request went out: the provider may have acted on it (made a task,
    // drawn an image), so this is not a refusal to try again, which could have it done and billed twice.
    throw new AppError('PROVIDER_FAILED', `the connection to ${request.provider} broke before its answer`, {
      cause: error,
    });
  }
};

/** Socket errors that happen before a request can leave: no address, no route, no connection, no TLS. */
const NOT_SENT = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
  'UND_ERR_CONNECT_TIMEOUT',
]);

/**
 * True when fetch failed before the request was sent. undici puts the socket's error, with its code, in
 * `cause`; a cause with no code is fetch refusing the request itself (a blocked port), before any socket.
 */
function neverSent(error: unknown): boolean {
  const code = (error as { cause?: { code?: unknown } } | undefined)?.cause?.code;
  if (typeof code !== 'string') return true;
  return NOT_SENT.has(code) || /^ERR_(TLS|SSL)_|CERT/.test(code);
}

export interface RetryPolicy {
  /** Extra attempts after the first. */
  maxRetries: number;
  baseDelayMs: number;
  /** Statuses worth another attempt (429 always; 5xx only where repeating is harmless). */
  retryStatuses: ReadonlySet<number>;
}

/** Milliseconds from a Retry-After header (seconds or an HTTP date), if present. */
export const retryAfterMs = (headers: Headers): number | undefined => {
  const value = headers.get('retry-after');
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
};

/**
 * Sends, and sends again after a backoff (Retry-After when given, else exponential with jitter) while the
 * status is retryable. Returns the last response, which the caller maps to an error if it is not a success.
 */
export const sendWithRetry = async (
  request: HttpRequest,
  policy: RetryPolicy,
  beforeEach?: () => Promise<void>,
): Promise<HttpResponse> => {
  for (let attempt = 0; ; attempt++) {
    await beforeEach?.();
    const response = await sendJson(request);
    if (!policy.retryStatuses.has(response.status) || attempt >= policy.maxRetries) return response;
    const backoff = policy.baseDelayMs * 2 ** attempt * (0.75 + Math.random() * 0.5);
    const delay = Math.min(retryAfterMs(response.headers) ?? backoff, 30_000);
    await sleep(delay, request.signal);
  }
};

/** Joins a configured base URL and an API path, tolerating a trailing slash or an included prefix. */
export const joinUrl = (baseUrl: string, prefix: string, path: string): string => {
  const base = baseUrl.replace(/\/+$/, '');
  return base.endsWith(prefix) ? `${base}${path}` : `${base}${prefix}${path}`;
};
