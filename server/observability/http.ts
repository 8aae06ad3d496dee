import { randomUUID, timingSafeEqual } from 'node:crypto';
import type { RequestHandler } from 'express';
import type { Kysely } from 'kysely';
import type { Database } from '../../db/schema.ts';
import { logger } from '../logger.ts';
import { withinMs } from '../services/clock.ts';
import { databaseUp, httpDuration, jobsByStatus, queueDepth, queueOldestAge, registry } from './metrics.ts';
import { attachRequestScope, type RequestScope } from './request-context.ts';

/** A caller's x-request-id is kept when it is a sane token; otherwise a new UUID. */
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** The tRPC procedures a request calls: `/trpc/a.b` or a batch `/trpc/a.b,c.d`. */
export const proceduresOf = (path: string): string[] | undefined => {
  const match = /^\/trpc\/([^/?]+)$/.exec(path);
  if (!match?.[1]) return undefined;
  try {
    return decodeURIComponent(match[1]).split(',').filter(Boolean).slice(0, 20);
  } catch {
    return undefined;
  }
};

/**
 * The label for HTTP metrics: a fixed set, whatever a client sends (every label value is a series kept
 * for good). One procedure the router has: its name; a batch of them: `batch`; anything else under
 * /trpc: `unknown`; elsewhere a fixed route name, never a raw path.
 */
const routeLabel = (
  path: string,
  procedures: string[] | undefined,
  known: ReadonlySet<string> | undefined,
): string => {
  if (procedures) {
    if (known && !procedures.every((p) => known.has(p))) return 'unknown';
    return procedures.length === 1 ? procedures[0]!.slice(0, 100) : 'batch';
  }
  const first = /^\/([a-z]+)/.exec(path)?.[1];
  return first && ['files', 'healthz', 'metrics', 'assets'].includes(first) ? `/${first}` : 'other';
};

/**
 * One JSON line per HTTP request (request id, method, path, procedures, status, ms, user id), the
 * `x-request-id` response header, and the request scope the tRPC context hands on (`ctx.requestId`).
 */
export function requestLogging(options: { procedures?: ReadonlySet<string> } = {}): RequestHandler {
  return (req, res, next) => {
    const incoming = req.headers['x-request-id'];
    const requestId = typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID();
    res.setHeader('x-request-id', requestId);
    const started = performance.now();
    // Read now: a mounted handler (tRPC under /trpc) sees, and leaves, the path without its mount.
    const path = req.path;
    const procedures = proceduresOf(path);
    const scope: RequestScope = { requestId };
    let logged = false;
    const done = () => {
      if (logged) return;
      logged = true;
      const ms = Math.round((performance.now() - started) * 10) / 10;
      // A stream the client closed before the answer ended has no status of its own.
      const status = res.writableFinished || res.headersSent ? res.statusCode : 499;
      httpDuration.observe(
        {
          procedure: routeLabel(path, procedures, options.procedures),
          method: req.method,
          status: String(status),
        },
        ms / 1000,
      );
      const level = status >= 500 ? 'error' : 'info';
      logger[level]('request', {
        requestId,
        method: req.method,
        path,
        ...(procedures ? { procedure: procedures.join(',') } : {}),
        status,
        ms,
        ...(scope.userId ? { userId: scope.userId } : {}),
      });
    };
    res.on('finish', done);
    res.on('close', done);
    attachRequestScope(req, scope);
    next();
  };
}

/** Reads the queue gauges from the database; called at each scrape. */
export async function observeQueue(db: Kysely<Database>, now: number): Promise<void> {
  const rows = await db
    .selectFrom('jobs')
    .select(['status', 'model'])
    .select((eb) => [eb.fn.countAll<number>().as('n'), eb.fn.min('created_at').as('oldest')])
    .where('status', 'in', ['queued', 'running'])
    .groupBy(['status', 'model'])
    .execute();
  jobsByStatus.reset();
  let depth = 0;
  let oldest: number | null = null;
  for (const row of rows) {
    const n = Number(row.n);
    jobsByStatus.set({ status: row.status, model: row.model }, n);
    if (row.status !== 'queued') continue;
    depth += n;
    const created = Number(row.oldest);
    if (oldest === null || created < oldest) oldest = created;
  }
  queueDepth.set(depth);
  queueOldestAge.set(oldest === null ? 0 : Math.max(0, (now - oldest) / 1000));
}

const sameSecret = (given: string, expected: string): boolean => {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
};

/** How long one reading of the queue gauges serves further scrapes. */
const QUEUE_READING_MS = 1_000;

/** How long /metrics and /healthz wait for the database before answering without it. */
export const DATABASE_WAIT_MS = 2_000;

/**
 * GET /metrics: Prometheus text; `Authorization: Bearer METRICS_TOKEN` when a token is configured. The
 * queue gauges are read from the database at most once a second, whoever scrapes: a flood of scrapes
 * (the endpoint is open without a token) shares one query instead of sending one each.
 */
export function metricsHandler(options: {
  db: Kysely<Database>;
  token?: string;
  now: () => number;
}): RequestHandler {
  let reading: { at: number; done: Promise<void>; settled: boolean } | null = null;
  const readQueue = () => {
    const at = performance.now();
    // A reading still waiting on the database is shared, not doubled: a database that stopped answering
    // must not collect one hung query per scrape in the pool.
    if (!reading || (reading.settled && at - reading.at >= QUEUE_READING_MS)) {
      const current = {
        at,
        settled: false,
        done: observeQueue(options.db, options.now()).then(
          () => {
            databaseUp.set(1);
          },
          (error: unknown) => {
            databaseUp.set(0);
            logger.warn('metrics: queue gauges unavailable', { error });
          },
        ),
      };
      void current.done.finally(() => {
        current.settled = true;
      });
      reading = current;
    }
    // The process metrics are answered whatever the database does, within a scraper's timeout.
    return withinMs(reading.done, DATABASE_WAIT_MS).catch(() => {
      databaseUp.set(0);
    });
  };
  return async (req, res) => {
    if (options.token) {
      const given = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '')?.[1] ?? '';
      if (!sameSecret(given, options.token)) {
        res.setHeader('WWW-Authenticate', 'Bearer realm="metrics"');
        res.status(401).json({ error: 'A bearer token is required for /metrics' });
        return;
      }
    }
    await readQueue();
    res.setHeader('Content-Type', registry.contentType);
    res.setHeader('Cache-Control', 'no-store');
    res.send(await registry.metrics());
  };
}
