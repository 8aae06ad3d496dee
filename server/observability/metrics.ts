import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/**
 * Prometheus metrics of this process (GET /metrics). One registry per process; the counters are module
 * singletons so any code can count with a one-line call. Queue gauges are read from the database when
 * scraped (see observeQueue).
 */
export const registry = new Registry();
collectDefaultMetrics({ register: registry });

const seconds = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

export const httpDuration = new Histogram({
  name: 'df_http_request_duration_seconds',
  help: 'HTTP requests by tRPC procedure (or route), method and status',
  labelNames: ['procedure', 'method', 'status'] as const,
  buckets: seconds,
  registers: [registry],
});

export const jobTransitions = new Counter({
  name: 'df_job_transitions_total',
  help: 'Job transitions (queued, submitted, succeeded, failed, refunded, canceled) by model and provider',
  labelNames: ['transition', 'model', 'provider', 'code'] as const,
  registers: [registry],
});

export const jobDuration = new Histogram({
  name: 'df_job_duration_seconds',
  help: 'Time from queued to a final status, by final status and model',
  labelNames: ['status', 'model'] as const,
  buckets: [0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600],
  registers: [registry],
});

export const providerDuration = new Histogram({
  name: 'df_provider_request_duration_seconds',
  help: 'HTTP calls to AI providers by provider, method and outcome (HTTP status, timeout or network)',
  labelNames: ['provider', 'method', 'outcome'] as const,
  buckets: seconds,
  registers: [registry],
});

export const providerErrors = new Counter({
  name: 'df_provider_errors_total',
  help: 'Provider calls that did not succeed, by provider and code (HTTP status, timeout, network)',
  labelNames: ['provider', 'code'] as const,
  registers: [registry],
});

export const providerRateLimited = new Counter({
  name: 'df_provider_rate_limited_total',
  help: 'HTTP 429 answers from providers',
  labelNames: ['provider'] as const,
  registers: [registry],
});

export const uploadBytes = new Counter({
  name: 'df_upload_bytes_total',
  help: 'Bytes of generated outputs stored, by storage kind',
  labelNames: ['storage'] as const,
  registers: [registry],
});

export const uploadFailures = new Counter({
  name: 'df_upload_failures_total',
  help: 'Outputs that could not be stored, by storage kind',
  labelNames: ['storage'] as const,
  registers: [registry],
});

export const creditsMoved = new Counter({
  name: 'df_credits_total',
  help: 'Credits moved by ledger kind (charge, refund, grant, redeem), as positive amounts',
  labelNames: ['kind'] as const,
  registers: [registry],
});

export const queueDepth = new Gauge({
  name: 'df_queue_depth',
  help: 'Jobs queued (not yet claimed by a worker), read from the database at scrape time',
  registers: [registry],
});

export const queueOldestAge = new Gauge({
  name: 'df_queue_oldest_age_seconds',
  help: 'Age of the oldest queued job, 0 when none, read from the database at scrape time',
  registers: [registry],
});

export const jobsByStatus = new Gauge({
  name: 'df_jobs',
  help: 'Jobs in the database by status and model, read at scrape time',
  labelNames: ['status', 'model'] as const,
  registers: [registry],
});

export const databaseUp = new Gauge({
  name: 'df_database_up',
  help: '1 when the last scrape-time read of the queue gauges answered, 0 when it failed or took too long (the queue gauges then keep their last values)',
  registers: [registry],
});

export const sseStreamsOpen = new Gauge({
  name: 'df_sse_streams_open',
  help: 'jobs.watch streams open in this process',
  registers: [registry],
});

export const sweepRemoved = new Counter({
  name: 'df_sweep_removed_total',
  help: 'What the housekeeping sweep removed, by kind (object, upload, session, temp)',
  labelNames: ['kind'] as const,
  registers: [registry],
});

/** One-line hooks for the code paths that move credits, store outputs and stream job updates. */
export const countCredits = (kind: string, amount: number): void => {
  if (amount !== 0) creditsMoved.inc({ kind }, Math.abs(amount));
};
export const countUpload = (storage: string, bytes: number): void => uploadBytes.inc({ storage }, bytes);
export const countUploadFailure = (storage: string): void => uploadFailures.inc({ storage });
export const sseOpened = (): void => sseStreamsOpen.inc();
export const sseClosed = (): void => sseStreamsOpen.dec();

/** Wraps a subscription's generator so the SSE gauge counts it while it is open. */
export const countedStream = <A, T, R>(fn: (options: A) => AsyncGenerator<T, R, unknown>) =>
  async function* (options: A): AsyncGenerator<T, R, unknown> {
    sseOpened();
    try {
      return yield* fn(options);
    } finally {
      sseClosed();
    }
  };

/** Records one provider HTTP exchange: its latency, and an error/429 count when it did not succeed. */
export function providerCall(
  provider: string,
  method: string,
  startedAt: number,
  outcome: number | 'timeout' | 'network',
): void {
  const label = String(outcome);
  providerDuration.observe({ provider, method, outcome: label }, (performance.now() - startedAt) / 1000);
  if (outcome === 429) providerRateLimited.inc({ provider });
  if (typeof outcome !== 'number' || outcome >= 400) providerErrors.inc({ provider, code: label });
}
