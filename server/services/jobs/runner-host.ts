import { randomBytes } from 'node:crypto';
import type { Env } from '../../env.ts';
import { logger } from '../../logger.ts';
import type { MetricsJson } from '../../observability/metrics.ts';
import { startWorker } from '../../threads.ts';
import type { JobEvents } from './events.ts';
import type { FromRunnerThread, RunnerThreadData, ToRunnerThread } from './runner-thread.ts';

/** The job runner as the process runs it: on this thread, or on a thread of its own. */
export interface RunningRunner {
  /** Where it runs. */
  readonly thread: boolean;
  /** Hands its jobs' leases back and stops (as `JobRunner.stop`). */
  stop(): Promise<void>;
  /** The runner thread's metrics, to add to this thread's (none when it runs here). */
  metrics(): Promise<MetricsJson[]>;
}

/**
 * Starts the job runner on a thread of its own (`runner-thread.ts`): the main thread keeps the HTTP
 * server, the runner's steps (claims, provider calls, uploads, settling) run beside it on another CPU.
 * Job changes the thread makes reach this thread's change feed as they are (`events.notify`, so a
 * waiting `ai.generateImage` answers with no query, as in one thread), and a job queued here wakes the
 * thread's idle runner at once. A thread that dies takes the process with it, as a crash would: what it
 * held resumes through the leases.
 */
export function startRunnerThread(env: Env, events: JobEvents): RunningRunner {
  const owner = `worker-${process.pid}-${randomBytes(4).toString('hex')}`;
  const data: RunnerThreadData = { env, owner };
  const worker = startWorker(import.meta.url, 'runner-thread', { workerData: data });
  const send = (message: ToRunnerThread) => worker.postMessage(message);
  const offQueued = events.onQueued(() => send({ type: 'queued' }));
  const asked = new Map<number, (metrics: MetricsJson) => void>();
  let nextId = 1;
  let stopped: (() => void) | null = null;
  let stopping = false;
  worker.on('message', (message: FromRunnerThread) => {
    if (message.type === 'notify') events.notify(message.jobId, message.row, message.outputs);
    else if (message.type === 'metrics') {
      asked.get(message.id)?.(message.metrics as MetricsJson);
      asked.delete(message.id);
    } else if (message.type === 'stopped') stopped?.();
  });
  worker.on('error', (error) => {
    logger.error('runner thread failed: stopping the process (its jobs resume through their leases)', {
      error,
    });
    process.exit(1);
  });
  worker.on('exit', (code) => {
    for (const answer of asked.values()) answer([]);
    asked.clear();
    if (!stopping) {
      logger.error('runner thread ended on its own: stopping the process', { code });
      process.exit(1);
    }
    stopped?.();
  });
  return {
    thread: true,
    stop: async () => {
      if (stopping) return;
      stopping = true;
      offQueued();
      await new Promise<void>((resolve) => {
        stopped = resolve;
        send({ type: 'stop' });
      });
      await worker.terminate();
    },
    metrics: () =>
      new Promise((resolve) => {
        const id = nextId++;
        // A thread that does not answer within a second leaves its counts out of this scrape.
        const timer = setTimeout(() => {
          asked.delete(id);
          resolve([]);
        }, 1_000);
        asked.set(id, (metrics) => {
          clearTimeout(timer);
          resolve(Array.isArray(metrics) && metrics.length ? [metrics] : []);
        });
        send({ type: 'metrics', id });
      }),
  };
}
