import { EventEmitter } from 'node:events';

/**
 * Wakes watchers when a job changes in this process. Watchers also re-read the database on a short
 * interval, so changes made by a worker in another process (ROLE=worker) still reach them.
 */
const QUEUED = Symbol('queued');

export class JobEvents {
  private readonly emitter = new EventEmitter().setMaxListeners(0);

  notify(jobId: string): void {
    this.emitter.emit(jobId);
  }

  /** A job was queued in this process: wakes an idle runner at once instead of at its next poll. */
  queued(): void {
    this.emitter.emit(QUEUED);
  }

  waitForQueued(timeoutMs: number): Promise<void> {
    return this.waitForChange(QUEUED, timeoutMs);
  }

  /** Resolves on the next change of the job, after `timeoutMs`, or when the signal aborts. */
  waitForChange(jobId: string | symbol, timeoutMs: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.emitter.off(jobId, done);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      this.emitter.on(jobId, done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }
}
