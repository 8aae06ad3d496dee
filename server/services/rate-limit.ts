import { isIP } from 'node:net';
import type { Executor } from '../../db/transaction.ts';
import { AppError } from '../../shared/errors.ts';
import { sleep } from '../providers/http.ts';

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
  /** The attempt counts (a failure; a sign-up): its place stays, and others stop waiting on it. */
  keep(): Promise<void>;
  /** Gives the place back: the attempt does not count. */
  release(): Promise<void>;
}

/** What the refusal says: a stable reason for the client, e.g. LOCKED_OUT or SIGNUP_LIMIT. */
export interface RefusalOptions {
  reason: string;
  message: string;
}

/**
 * The part of a client's address that names one client in a rate-limit bucket: an IPv4 address as it is
 * (an IPv4-mapped IPv6 one as IPv4), an IPv6 address by its /64, which one household or server holds
 * whole: one client cannot walk through its 2^64 addresses to dodge a per-address limit.
 */
export function ipKey(ip: string | null): string | null {
  if (ip === null) return null;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped) return mapped[1]!;
  if (isIP(ip) !== 6) return ip;
  const [head = '', tail = ''] = ip.toLowerCase().split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  // A dotted IPv4 tail takes two groups; only the first four groups matter here.
  const groups = [...left, ...Array(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right];
  return `${groups
    .slice(0, 4)
    .map((g) => g.replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
}

/** An attempt pending longer than this (its process died mid-attempt) counts as kept. */
const PENDING_MS = 10_000;
/** How long an attempt waits, at most, for attempts still in flight to settle before it is refused. */
const SETTLE_WAIT_MS = 3_000;

/**
 * Reserves one attempt in every bucket *before* the expensive check, so concurrent attempts cannot all
 * pass a count read before any of them wrote: each inserts its event first, then counts the events in
 * the window. Of any two racing attempts the later count sees both, so no more than `limit` attempts
 * are evaluated, however many race.
 *
 * Events are pending while their attempt is evaluated. Over the limit on kept events alone, the refusal
 * is at once (RATE_LIMITED with `retryAfterSeconds`; no delay held on the server). Over it only with
 * pending ones counted, the outcome depends on attempts in flight (a success gives its place back): the
 * attempt withdraws, waits a moment for them to settle and tries again, for up to 3 s. So 40 users behind
 * one address redeeming valid codes at once all succeed, and 200 concurrent guesses still get 20 checks.
 * The caller keeps the reservation when the attempt counts and releases it otherwise; `settled` makes an
 * event that counts at once (an email sent).
 */
export async function reserveAttempt(
  db: Executor,
  buckets: BucketLimit[],
  now: number,
  refusal: RefusalOptions = { reason: 'LOCKED_OUT', message: 'Too many failed attempts; try again later' },
  options: { settled?: boolean } = {},
): Promise<Reservation> {
  const waitUntil = Date.now() + SETTLE_WAIT_MS;
  for (;;) {
    const outcome = await tryReserve(db, buckets, now, options.settled === true);
    if ('reservation' in outcome) {
      if (Math.random() < 0.02) {
        await db
          .deleteFrom('rate_limit_events')
          .where('created_at', '<', now - 86_400_000)
          .execute();
      }
      return outcome.reservation;
    }
    if (outcome.locked.settled || Date.now() >= waitUntil) {
      const retryAfterSeconds = Math.max(1, Math.ceil((outcome.locked.at - now) / 1000));
      throw new AppError('RATE_LIMITED', refusal.message, {
        retryAfterMs: retryAfterSeconds * 1000,
        reason: refusal.reason,
        params: { retryAfterSeconds },
      });
    }
    await sleep(20 + Math.random() * 40);
  }
}

/** Over a limit until `at`; `settled` when kept events alone exceed it (no attempt in flight can change that). */
interface Locked {
  at: number;
  settled: boolean;
}

async function tryReserve(
  db: Executor,
  buckets: BucketLimit[],
  now: number,
  settled: boolean,
): Promise<{ reservation: Reservation } | { locked: Locked }> {
  // A read first: while a flood is locked out it is refused without a write per request.
  for (const { bucket, tiers } of buckets) {
    const locked = await lockedUntil(db, bucket, tiers, null, now);
    if (locked) return { locked };
  }
  const ids: number[] = [];
  const release = async () => {
    if (ids.length > 0) await db.deleteFrom('rate_limit_events').where('id', 'in', ids).execute();
  };
  for (const { bucket, tiers } of buckets) {
    if (tiers.length === 0) continue;
    const inserted = await db
      .insertInto('rate_limit_events')
      .values({ bucket, created_at: now, pending: settled ? 0 : 1 })
      .executeTakeFirstOrThrow();
    const id = Number(inserted.insertId);
    ids.push(id);
    const locked = await lockedUntil(db, bucket, tiers, id, now);
    if (locked) {
      await release();
      return { locked };
    }
  }
  const keep = async () => {
    if (ids.length > 0 && !settled)
      await db.updateTable('rate_limit_events').set({ pending: 0 }).where('id', 'in', ids).execute();
  };
  return { reservation: { keep, release } };
}

/**
 * Null when one more attempt fits every tier; else when it will, the latest over the tiers it exceeds
 * (so a longer tier's back-off is the one announced), and whether kept events alone exceed it.
 * `ownId` is this attempt's event, if written: it is not one of the others.
 */
async function lockedUntil(
  db: Executor,
  bucket: string,
  tiers: RateLimitRule[],
  ownId: number | null,
  now: number,
): Promise<Locked | null> {
  let locked: Locked | null = null;
  for (const tier of tiers) {
    let count = db
      .selectFrom('rate_limit_events')
      .select((eb) => [
        eb.fn.countAll<number>().as('n'),
        eb.fn
          .sum<number | string | null>(
            eb
              .case()
              .when(eb.and([eb('pending', '=', 1), eb('created_at', '>', now - PENDING_MS)]))
              .then(1)
              .else(0)
              .end(),
          )
          .as('pending'),
      ])
      .where('bucket', '=', bucket)
      .where('created_at', '>', now - tier.windowMs);
    if (ownId !== null) count = count.where('id', '!=', ownId);
    const row = await count.executeTakeFirstOrThrow();
    const others = Number(row.n);
    if (others + 1 <= tier.limit) continue;
    const settled = others - Number(row.pending ?? 0) + 1 > tier.limit;
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
    locked = locked ? { at: Math.max(locked.at, at), settled: locked.settled || settled } : { at, settled };
  }
  return locked;
}
