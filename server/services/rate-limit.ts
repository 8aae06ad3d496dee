import type { Executor } from '../../db/transaction.ts';
import { AppError } from '../../shared/errors.ts';

export interface RateLimitRule {
  limit: number;
  windowMs: number;
}

/** One counter: a bucket name and its tiers (more tiers, longer windows: a back-off for persistent guessing). */
export interface BucketLimit {
  bucket: string;
  tiers: RateLimitRule[];
}

/** An attempt that holds a place in its buckets until it is kept (a failure) or released (a success). */
export interface Reservation {
  /** Gives the place back: the attempt does not count. */
  release(): Promise<void>;
}

/** What the refusal says: a stable reason for the client, e.g. LOCKED_OUT or SIGNUP_LIMIT. */
export interface RefusalOptions {
  reason: string;
  message: string;
}

/**
 * Reserves one attempt in every bucket *before* the expensive check, so concurrent attempts cannot all
 * pass a count read before any of them wrote: each inserts its event first, then counts the events in
 * the window, its own included. Of any two racing attempts the later count sees both, so no more than
 * `limit` attempts are evaluated, however many race. Over the limit, the reservation is withdrawn and
 * RATE_LIMITED (with `retryAfterSeconds`) is thrown at once: no delay held on the server.
 * The caller keeps the reservation when the attempt counts (a failure; a sign-up) and releases it otherwise.
 */
export async function reserveAttempt(
  db: Executor,
  buckets: BucketLimit[],
  now: number,
  refusal: RefusalOptions = { reason: 'LOCKED_OUT', message: 'Too many failed attempts; try again later' },
): Promise<Reservation> {
  const ids: number[] = [];
  const release = async () => {
    if (ids.length > 0) await db.deleteFrom('rate_limit_events').where('id', 'in', ids).execute();
  };
  const refuse = (retryAt: number) => {
    const retryAfterSeconds = Math.max(1, Math.ceil((retryAt - now) / 1000));
    return new AppError('RATE_LIMITED', refusal.message, {
      retryAfterMs: retryAfterSeconds * 1000,
      reason: refusal.reason,
      params: { retryAfterSeconds },
    });
  };
  // A read first: while a flood is locked out it is refused without a write per request.
  for (const { bucket, tiers } of buckets) {
    const retryAt = await lockedUntil(db, bucket, tiers, null, now, 0);
    if (retryAt !== null) throw refuse(retryAt);
  }
  for (const { bucket, tiers } of buckets) {
    if (tiers.length === 0) continue;
    const inserted = await db
      .insertInto('rate_limit_events')
      .values({ bucket, created_at: now })
      .executeTakeFirstOrThrow();
    const id = Number(inserted.insertId);
    ids.push(id);
    const retryAt = await lockedUntil(db, bucket, tiers, id, now, 1);
    if (retryAt !== null) {
      await release();
      throw refuse(retryAt);
    }
  }
  if (Math.random() < 0.02) {
    await db
      .deleteFrom('rate_limit_events')
      .where('created_at', '<', now - 86_400_000)
      .execute();
  }
  return { release };
}

/**
 * Null when one more attempt fits every tier; else the time it will, the latest over the tiers it
 * exceeds (so a longer tier's back-off is the one announced). `own` is this attempt's event, if written.
 */
async function lockedUntil(
  db: Executor,
  bucket: string,
  tiers: RateLimitRule[],
  ownId: number | null,
  now: number,
  own: 0 | 1,
): Promise<number | null> {
  let until: number | null = null;
  for (const tier of tiers) {
    const row = await db
      .selectFrom('rate_limit_events')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('bucket', '=', bucket)
      .where('created_at', '>', now - tier.windowMs)
      .executeTakeFirstOrThrow();
    const others = Number(row.n) - own;
    if (others + 1 <= tier.limit) continue;
    // Once enough of the others have aged out of the window for one more attempt to fit.
    let query = db
      .selectFrom('rate_limit_events')
      .select('created_at')
      .where('bucket', '=', bucket)
      .where('created_at', '>', now - tier.windowMs)
      .orderBy('created_at', 'asc')
      .orderBy('id', 'asc')
      .offset(Math.max(0, others - tier.limit))
      .limit(1);
    if (ownId !== null) query = query.where('id', '!=', ownId);
    const oldest = await query.executeTakeFirst();
    const at = (oldest ? Number(oldest.created_at) : now) + tier.windowMs;
    until = until === null ? at : Math.max(until, at);
  }
  return until;
}
