import type { Executor } from '../../db/transaction.ts';
import { AppError } from '../../shared/errors.ts';

export interface RateLimitRule {
  limit: number;
  windowMs: number;
}

/** Throws RATE_LIMITED when any bucket has `limit` failures inside the window. Counted in the database. */
export async function assertNotRateLimited(
  db: Executor,
  buckets: string[],
  rule: RateLimitRule,
  now: number,
): Promise<void> {
  for (const bucket of buckets) {
    const row = await db
      .selectFrom('rate_limit_events')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('bucket', '=', bucket)
      .where('created_at', '>', now - rule.windowMs)
      .executeTakeFirstOrThrow();
    if (Number(row.n) >= rule.limit) {
      throw new AppError('RATE_LIMITED', 'Too many failed attempts; try again later', {
        retryAfterMs: rule.windowMs,
      });
    }
  }
}

/** Records one failure in each bucket, and forgets events older than a day. */
export async function recordFailure(db: Executor, buckets: string[], now: number): Promise<void> {
  if (buckets.length === 0) return;
  await db
    .insertInto('rate_limit_events')
    .values(buckets.map((bucket) => ({ bucket, created_at: now })))
    .execute();
  if (Math.random() < 0.05) {
    await db
      .deleteFrom('rate_limit_events')
      .where('created_at', '<', now - 86_400_000)
      .execute();
  }
}
