// The job runner on a thread of its own (see runner-host.ts): a process with ROLE=all on MySQL runs its
// HTTP server on the main thread and its steps here, so the two use two CPUs instead of sharing one.
// The thread has its own database pool, storage and providers, made from the same settings; it hands
// job changes to the main thread's change feed and hears there when the main thread queued a job.
import fs from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { connect } from '../../../db/connect.ts';
import type { Job, JobOutput } from '../../../db/schema.ts';
import { createInnerContext, createRunner } from '../../deps.ts';
import type { Env } from '../../env.ts';
import { logger, routeConsoleToLogger } from '../../logger.ts';
import { registry } from '../../observability/metrics.ts';
import { systemClock } from '../clock.ts';
import { JobEvents } from './events.ts';

/** What the main thread sends. */
export type ToRunnerThread = { type: 'queued' } | { type: 'stop' } | { type: 'metrics'; id: number };
/** What this thread sends. */
export type FromRunnerThread =
  | { type: 'notify'; jobId: string; row?: Job; outputs?: JobOutput[] }
  | { type: 'metrics'; id: number; metrics: unknown }
  | { type: 'stopped' };

export interface RunnerThreadData {
  env: Env;
  owner: string;
}

/** Job changes go to the main thread's feed, where the waiting calls and watches are. */
class ForwardingEvents extends JobEvents {
  notify(jobId: string, row?: Job, outputs?: JobOutput[]): void {
    post({ type: 'notify', jobId, row, outputs });
  }
}

const post = (message: FromRunnerThread) => parentPort?.postMessage(message);

if (parentPort) {
  const { env, owner } = workerData as RunnerThreadData;
  logger.setLevel(env.LOG_LEVEL);
  logger.setFormat(env.LOG_FORMAT);
  // Written from this thread: through process.stderr every line would cross to the main thread first.
  logger.setSink((line) => fs.writeSync(2, line));
  routeConsoleToLogger();
  const db = connect({
    databaseUrl: env.DATABASE_URL,
    dataDir: env.DATA_DIR,
    poolSize: env.DATABASE_POOL_SIZE,
  });
  const events = new ForwardingEvents({ db });
  const inner = createInnerContext(env, db, systemClock, { events });
  const runner = createRunner(env, inner, { owner });
  runner.start();
  parentPort.on('message', (message: ToRunnerThread) => {
    if (message.type === 'queued') events.queued();
    else if (message.type === 'metrics') {
      void registry.getMetricsAsJSON().then((metrics) => post({ type: 'metrics', id: message.id, metrics }));
    } else if (message.type === 'stop') {
      void (async () => {
        await runner.stop();
        await inner.storage.close?.();
        await db.destroy();
        post({ type: 'stopped' });
      })();
    }
  });
}
