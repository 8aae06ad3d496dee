import { AppError } from '../../shared/errors.ts';

/**
 * At most `size` holders at once, and at most `maxWaiting` in line; one more is refused at once with
 * RATE_LIMITED (reason BUSY) instead of queueing without bound. Password hashing runs on libuv's small
 * thread pool, shared with file reads: a flood of hashes must not stall the rest of the server.
 */
export class Semaphore {
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(
    private readonly size: number,
    private readonly maxWaiting: number,
  ) {}

  /** Throws BUSY when a new holder would be refused: lets a caller refuse before doing any other work. */
  assertRoom(): void {
    if (this.active >= this.size && this.waiting.length >= this.maxWaiting) {
      throw new AppError('RATE_LIMITED', 'The server is busy; try again in a moment', {
        reason: 'BUSY',
        params: { retryAfterSeconds: 1 },
        retryAfterMs: 1000,
      });
    }
  }

  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active >= this.size) {
      this.assertRoom();
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    } else {
      this.active += 1;
    }
    try {
      return await fn();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.active -= 1;
    }
  }
}
