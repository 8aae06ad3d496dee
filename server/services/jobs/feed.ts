import type { Kysely } from 'kysely';
import type { Database, Job, JobOutput } from '../../../db/schema.ts';
import { AppError } from '../../../shared/errors.ts';
import { logger } from '../../logger.ts';
import { ipKey } from '../rate-limit.ts';

interface Waiter {
  after: number;
  resolve: (job: Job | null) => void;
}

interface Watched {
  /** Highest status_sequence seen, and the row that had it. */
  sequence: number;
  row: Job | null;
  waiters: Set<Waiter>;
}

/** Outputs handed over with a completed job's row (`offer`), so its waiter reads none. */
const delivered = new WeakMap<Job, JobOutput[]>();

/** The outputs that came with this row, when the worker that completed the job offered them. */
export const deliveredOutputs = (row: Job): JobOutput[] | undefined => delivered.get(row);

/** Largest `id in (...)` list one feed query sends. */
const CHUNK = 500;

/**
 * One change feed per process. Every `jobs.watch` stream and every waiting `ai.generateImage` registers
 * the job it follows here; one query per tick (`select * from jobs where id in (watched)`) finds which
 * moved past what each waiter has seen and wakes them with the new row. Nobody re-reads their own job.
 * A change made in this process (`poke`) runs the next tick at once; changes made by other processes
 * (ROLE=worker) are seen within `intervalMs`.
 */
export class JobFeed {
  private readonly watched = new Map<string, Watched>();
  private timer: NodeJS.Timeout | null = null;
  private ticking = false;
  private pokedDuringTick = false;
  /** Feed queries run so far (for tests and benchmarks). */
  queries = 0;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly intervalMs = 250,
  ) {}

  /** Jobs being followed now. */
  get size(): number {
    return this.watched.size;
  }

  /**
   * Resolves with the job's row once its status_sequence exceeds `after`; with null when `timeoutMs`
   * passes or the signal aborts first.
   */
  next(
    jobId: string,
    after: number,
    options: { timeoutMs?: number; signal?: AbortSignal } = {},
  ): Promise<Job | null> {
    let entry = this.watched.get(jobId);
    if (entry?.row && entry.sequence > after) return Promise.resolve(entry.row);
    if (options.signal?.aborted) return Promise.resolve(null);
    if (!entry) {
      entry = { sequence: after, row: null, waiters: new Set() };
      this.watched.set(jobId, entry);
    }
    const watched = entry;
    return new Promise((resolve) => {
      const waiter: Waiter = {
        after,
        resolve: (job) => {
          clearTimeout(timeout);
          options.signal?.removeEventListener('abort', onAbort);
          watched.waiters.delete(waiter);
          if (watched.waiters.size === 0 && this.watched.get(jobId) === watched) this.watched.delete(jobId);
          resolve(job);
        },
      };
      const onAbort = () => waiter.resolve(null);
      const timeout =
        options.timeoutMs === undefined
          ? undefined
          : setTimeout(() => waiter.resolve(null), Math.max(0, options.timeoutMs));
      options.signal?.addEventListener('abort', onAbort, { once: true });
      watched.waiters.add(waiter);
      this.schedule(this.intervalMs);
    });
  }

  /**
   * A change this process made and knows the whole row of (the worker holding the job): waiters here
   * get a copy at once, with no query. `outputs` are the rows a completion just inserted
   * (`deliveredOutputs` finds them from the row).
   */
  offer(row: Job, outputs?: JobOutput[]): void {
    if (!this.watched.has(row.id)) return;
    const copy = { ...row };
    if (outputs) delivered.set(copy, outputs);
    this.deliver(copy);
  }

  /** A job changed in this process: look now rather than at the next tick. */
  poke(jobId?: string): void {
    if (jobId !== undefined && !this.watched.has(jobId)) return;
    if (this.ticking) {
      this.pokedDuringTick = true;
      return;
    }
    this.schedule(0, true);
  }

  private schedule(delayMs: number, sooner = false): void {
    if (this.watched.size === 0) return;
    if (this.timer) {
      if (!sooner) return;
      clearTimeout(this.timer);
    }
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.tick();
    }, delayMs);
    this.timer.unref?.();
  }

  private async tick(): Promise<void> {
    if (this.ticking) return;
    this.ticking = true;
    this.pokedDuringTick = false;
    try {
      const ids = [...this.watched.keys()];
      for (let i = 0; i < ids.length; i += CHUNK) {
        const chunk = ids.slice(i, i + CHUNK);
        this.queries++;
        const rows = await this.db.selectFrom('jobs').selectAll().where('id', 'in', chunk).execute();
        for (const row of rows) this.deliver(row);
      }
    } catch (error) {
      logger.warn('job feed: query failed, will retry', { error });
    } finally {
      this.ticking = false;
      if (this.pokedDuringTick) this.schedule(0, true);
      else this.schedule(this.intervalMs);
    }
  }

  private deliver(row: Job): void {
    const entry = this.watched.get(row.id);
    if (!entry) return;
    const sequence = Number(row.status_sequence);
    if (sequence < entry.sequence) return;
    entry.sequence = sequence;
    entry.row = row;
    for (const waiter of [...entry.waiters]) if (sequence > waiter.after) waiter.resolve(row);
  }
}

/**
 * Open `jobs.watch` streams in this process, per user and per client IP. Counted in memory: a stream
 * lives in one process, and refusing an over-cap stream must not cost a database query.
 */
export class WatchSlots {
  private readonly byUser = new Map<string, number>();
  private readonly byIp = new Map<string, number>();

  /** Takes a slot or throws RATE_LIMITED; call the returned function when the stream ends. */
  acquire(
    input: { userId: string; ip: string | null },
    limits: { perUser: number; perIp: number },
  ): () => void {
    const users = this.byUser.get(input.userId) ?? 0;
    if (users >= limits.perUser) {
      throw new AppError(
        'RATE_LIMITED',
        `Too many open job watches for this account (at most ${limits.perUser}); close some first`,
      );
    }
    const ip = ipKey(input.ip) ?? 'unknown';
    const ips = this.byIp.get(ip) ?? 0;
    if (ips >= limits.perIp) {
      throw new AppError(
        'RATE_LIMITED',
        `Too many open job watches from this address (at most ${limits.perIp}); close some first`,
      );
    }
    this.byUser.set(input.userId, users + 1);
    this.byIp.set(ip, ips + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      decrement(this.byUser, input.userId);
      decrement(this.byIp, ip);
    };
  }

  /** Open streams of a user (tests). */
  openFor(userId: string): number {
    return this.byUser.get(userId) ?? 0;
  }
}

function decrement(map: Map<string, number>, key: string): void {
  const n = (map.get(key) ?? 1) - 1;
  if (n <= 0) map.delete(key);
  else map.set(key, n);
}
