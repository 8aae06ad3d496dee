import { AppError } from '../../shared/errors.ts';

/**
 * At most `size` holders at once, and at most `maxWaiting` in line; one more is refused at once with
 * RATE_LIMITED (reason BUSY) instead of queueing without bound. Password hashing runs on libuv's small
 * thread pool, shared with file reads: a flood of hashes must not stall the rest of the server.
 * A holder may name its key (the client's address): a key holding `maxPerKey` places (running or in
 * line) gets more only while at least half the line is free, so one client cannot fill the line and have
 * everyone else refused, and many honest users behind one address (an office) still fit when it is quiet.
 */
export class Semaphore {
  private active = 0;
  private readonly waiting: (() => void)[] = [];
  private readonly held = new Map<string, number>();

  constructor(
    private readonly size: number,
    private readonly maxWaiting: number,
    private readonly maxPerKey = Number.POSITIVE_INFINITY,
  ) {}

  /** Throws BUSY when a new holder would be refused: lets a caller refuse before doing any other work. */
  assertRoom(key: string | null = null): void {
    const lineFull = this.active >= this.size && this.waiting.length >= this.maxWaiting;
    const overShare =
      key !== null &&
      (this.held.get(key) ?? 0) >= this.maxPerKey &&
      this.waiting.length >= this.maxWaiting / 2;
    if (lineFull || overShare) {
      throw new AppError('RATE_LIMITED', 'The server is busy; try again in a moment', {
        reason: 'BUSY',
        params: { retryAfterSeconds: 1 },
        retryAfterMs: 1000,
      });
    }
  }

  async run<T>(key: string | null, fn: () => Promise<T>): Promise<T> {
    this.assertRoom(key);
    if (key !== null) this.held.set(key, (this.held.get(key) ?? 0) + 1);
    try {
      if (this.active >= this.size) await new Promise<void>((resolve) => this.waiting.push(resolve));
      else this.active += 1;
      try {
        return await fn();
      } finally {
        const next = this.waiting.shift();
        if (next) next();
        else this.active -= 1;
      }
    } finally {
      if (key !== null) {
        const left = (this.held.get(key) ?? 1) - 1;
        if (left > 0) this.held.set(key, left);
        else this.held.delete(key);
      }
    }
  }
}
