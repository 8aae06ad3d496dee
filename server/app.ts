import fs from 'node:fs';
import path from 'node:path';
import express, { type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import { migrationStatus } from '../db/migrate.ts';
import { isSpaPath } from '../shared/spa-routes.ts';
import { createRequestContext, type InnerContext } from './context.ts';
import { securityHeaders, trpcGuards } from './http/security.ts';
import { trpcHandler } from './http/trpc-handler.ts';
import { logger } from './logger.ts';
import { DATABASE_WAIT_MS, metricsHandler, requestLogging } from './observability/http.ts';
import { requestScopeOf } from './observability/request-context.ts';
import { appRouter } from './routers/index.ts';
import { withinMs } from './services/clock.ts';
import { MAX_BATCH_SIZE } from './trpc.ts';

export interface AppOptions {
  /** Built SPA to serve (vite build output); a placeholder page when it is missing. */
  clientDir?: string;
  /** Extra routes mounted before the SPA fallback, e.g. local storage's `/files`. */
  mounts?: { path: string; handler: RequestHandler }[];
}

/** Paths the SPA never owns: API prefixes (and typos of them) and file-like paths. */
const NOT_SPA = /^\/(?:api|trpc|files|healthz|metrics)|\.[A-Za-z0-9]{1,8}$/i;

const notFound: RequestHandler = (req, res) => {
  res.status(404).json({ error: `Not found: ${req.method} ${req.path}` });
};

/** The express app: /trpc, /healthz, local files and the SPA. No listening, no process concerns. */
export function createApp(inner: InnerContext, options: AppOptions = {}) {
  const app = express();
  app.disable('x-powered-by');
  const trustProxy = inner.config.TRUST_PROXY;
  if (trustProxy)
    app.set(
      'trust proxy',
      /^\d+$/.test(trustProxy) ? Number(trustProxy) : trustProxy === 'true' || trustProxy,
    );

  app.use(requestLogging({ procedures: new Set(Object.keys(appRouter._def.procedures)) }));
  app.use(securityHeaders(inner.config));
  app.get(
    '/metrics',
    metricsHandler({ db: inner.db, token: inner.config.METRICS_TOKEN, now: () => inner.clock.now() }),
  );

  // Up means the database answers with this build's schema: a process started with
  // MIGRATE_ON_START=false before `db:migrate` ran is not ready, nor is one whose database was dropped.
  // One check at a time, answered within DATABASE_WAIT_MS: a database that stops answering (a network
  // partition) makes this a prompt 503, and probes do not pile hung queries up in the pool.
  let checking: Promise<boolean> | null = null;
  app.get('/healthz', async (_req, res) => {
    checking ??= migrationStatus(inner.db)
      .then((migrations) => migrations.some((m) => !m.executedAt))
      .finally(() => {
        checking = null;
      });
    try {
      if (await withinMs(checking, DATABASE_WAIT_MS)) {
        res.status(503).json({ ok: false, db: 'up', migrations: 'pending' });
        return;
      }
      res.json({ ok: true, db: 'up' });
    } catch (error) {
      logger.warn('healthz: database check failed', { error });
      res.status(503).json({ ok: false, db: 'down' });
    }
  });

  app.use(
    '/trpc',
    trpcGuards(inner.config),
    trpcHandler({
      router: appRouter,
      createContext: ({ req, res, info }) => createRequestContext(inner, req, res, info),
      maxBodySize: 1024 * 1024,
      maxBatchSize: MAX_BATCH_SIZE,
      onError: ({ error, path: procedure, req }) => {
        if (error.code === 'INTERNAL_SERVER_ERROR' && !(error.cause && 'code' in error.cause)) {
          logger.error('trpc error', {
            requestId: requestScopeOf(req)?.requestId,
            procedure,
            error: error.cause ?? error,
          });
        }
      },
    }),
  );

  for (const mount of options.mounts ?? []) app.use(mount.path, mount.handler);

  const clientDir = options.clientDir;
  const index = clientDir ? path.join(clientDir, 'index.html') : null;
  if (clientDir && index && fs.existsSync(index)) {
    app.use(express.static(clientDir, { index: false, maxAge: '1h', immutable: false }));
    // API-like paths that matched nothing above (typos such as /trpcx/…, /api/…, /metricsx) and missing
    // files (a path with an extension) get a JSON 404, never the SPA's HTML.
    app.use((req, res, next) => (NOT_SPA.test(req.path) ? notFound(req, res, next) : next()));
    // The SPA's pages get its HTML; any other path gets the same HTML (the SPA's "page not found") with
    // a 404 status, so crawlers, monitors and scripts see a missing page as missing.
    const notFoundHtml = fs.readFileSync(index, 'utf8');
    app.get(/^\/.*/, (req, res) => {
      res.setHeader('Cache-Control', 'no-cache');
      if (isSpaPath(req.path)) res.sendFile(index);
      else res.status(404).type('html').send(notFoundHtml);
    });
  } else {
    app.get('/', (_req, res) => {
      res
        .type('html')
        .send('<!doctype html><title>Dream Factory</title><h1>梦工厂 Dream Factory</h1><p>API at /trpc</p>');
    });
  }
  app.use(notFound);
  // Last stop for anything thrown outside tRPC (e.g. a file stream failing): log it, never send a stack.
  app.use((error: unknown, req: Request, res: Response, _next: NextFunction) => {
    logger.error('http error', { requestId: requestScopeOf(req)?.requestId, error });
    if (res.headersSent) {
      res.destroy();
      return;
    }
    res.status(500).json({ error: 'Something went wrong on our side; please try again' });
  });
  return app;
}
