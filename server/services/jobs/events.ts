import { EventEmitter } from 'node:events';
import type { Kysely } from 'kysely';
import type { Database, Job, JobOutput } from '../../../db/schema.ts';
import { JobFeed, WatchSlots } from './feed.ts';

const QUEUED = Symbol('queued');

/**
 * Job signals within one process: `queued()` wakes an idle runner when this process queued a job, and
 * `notify(id)` tells the change feed a job changed here, so local watchers see it at once. Watchers
 * themselves wait on the feed (one query per tick for all of them), which also sees changes made by
 * other processes.
 */
export class JobEvents {
  private readonly emitter = new EventEmitter().setMaxListeners(0);
  private feedInstance: JobFeed | null = null;
  /** Open `jobs.watch` streams in this process, by user and by IP. */
  readonly watches = new WatchSlots();

  constructor(private readonly options: { db?: Kysely<Database>; feedIntervalMs?: number } = {}) {}

  /** The process's change feed (made on first use; needs the database). */
  get feed(): JobFeed {
    if (!this.feedInstance) {
      if (!this.options.db) throw new Error('JobEvents was made without a database: no change feed');
      this.feedInstance = new JobFeed(this.options.db, this.options.feedIntervalMs);
    }
    return this.feedInstance;
  }

  /**
   * A job changed in this process. With the whole row as it now is (and, for a job just completed, its
   * outputs), waiters here get it with no query; without, the feed looks at once.
   */
  notify(jobId: string, row?: Job, outputs?: JobOutput[]): void {
    if (row) this.feedInstance?.offer(row, outputs);
    else this.feedInstance?.poke(jobId);
  }

  /** A job was queued in this process: wakes an idle runner at once instead of at its next poll. */
  queued(): void {
    this.emitter.emit(QUEUED);
  }

  /** Calls `listener` whenever `queued()` is; returns the unsubscribe function. */
  onQueued(listener: () => void): () => void {
    this.emitter.on(QUEUED, listener);
    return () => this.emitter.off(QUEUED, listener);
  }

  /** Resolves when `queued()` is called, after `timeoutMs`, or when the signal aborts. */
  waitForQueued(timeoutMs: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.emitter.off(QUEUED, done);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      this.emitter.on(QUEUED, done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }
}
