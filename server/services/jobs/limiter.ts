import { type Kysely, sql } from 'kysely';
import { affectedRows, dialectOf } from '../../../db/dialect.ts';
import type { Database } from '../../../db/schema.ts';
import type { RateLimit } from '../../providers/provider.ts';

export type Reservation = { ok: true; at: number } | { ok: false; retryAt: number };

interface Pending {
  limit: RateLimit;
  /** The request may not go out before this (a job claimed a moment before it falls due). */
  notBefore: number;
  resolve: (r: Reservation) => void;
  reject: (e: unknown) => void;
}

export interface FleetLimiterOptions {
  /** How far ahead a slot may be reserved; a step waits at most this long for it. Default 1000 ms. */
  horizonMs?: number;
  /**
   * Share of the declared rate actually used (default 0.85): requests leave at their slot times but
   * arrive a little jittered (a busy event loop, a slow DNS), and the provider counts arrivals in any
   * rolling second — at 0.9, ten requests at 9/s already span just one second, with no room for jitter.
   */
  headroom?: number;
  now?: () => number;
}

/**
 * Provider account limits for the whole fleet, kept in the database (GCRA): the `provider_limits` row
 * of an operation holds the earliest time the next request may go out. Reserving k requests moves it
 * forward by k intervals with a guarded UPDATE (`where next_at = <what was seen>`, or `<= now` when it
 * was in the past), so two processes can never hand out the same slot; the first try goes on the value
 * this process last saw, and only a miss reads the row. Requests reserved in the same tick share one round trip;
 * a process that knows the next slot is beyond its horizon answers without asking the database.
 * A 429 pushes the row forward (`backoff`), slowing every process at once.
 */
export class FleetLimiter {
  private readonly horizonMs: number;
  private readonly headroom: number;
  private readonly now: () => number;
  /** Per key, the earliest next_at worth asking about: the last one seen (it only moves forward), or later. */
  private readonly known = new Map<string, number>();
  /** Per key, the next_at this process last read or wrote: a lower bound of the row's value. */
  private readonly seen = new Map<string, number>();
  private readonly pending = new Map<string, Pending[]>();
  private flushing = false;
  /** Database statements issued (tests and benchmarks). */
  statements = 0;

  constructor(
    private readonly db: Kysely<Database>,
    options: FleetLimiterOptions = {},
  ) {
    this.horizonMs = options.horizonMs ?? 1000;
    this.headroom = options.headroom ?? 0.85;
    this.now = options.now ?? Date.now;
  }

  private interval(limit: RateLimit): number {
    return 1000 / (limit.perSecond * this.headroom);
  }

  /**
   * A slot for one request: `{ ok: true, at }` (wait until `at`, at most the horizon, then send) or
   * `{ ok: false, retryAt }` (no slot soon: come back then).
   */
  reserve(limit: RateLimit, notBefore = 0): Promise<Reservation> {
    const known = this.known.get(limit.key);
    const now = this.now();
    if (known !== undefined && known - this.horizonMs > now) {
      return Promise.resolve({ ok: false, retryAt: known - this.horizonMs });
    }
    return new Promise((resolve, reject) => {
      const list = this.pending.get(limit.key) ?? [];
      list.push({ limit, notBefore, resolve, reject });
      this.pending.set(limit.key, list);
      if (!this.flushing) {
        this.flushing = true;
        setImmediate(() => void this.flush());
      }
    });
  }

  /**
   * When this process already knows no slot of `limit` is free within the horizon: the time to ask
   * again. Undefined when a slot may be free (ask the database).
   */
  blockedUntil(limit: RateLimit): number | undefined {
    const known = this.known.get(limit.key);
    const retryAt = known === undefined ? undefined : known - this.horizonMs;
    return retryAt !== undefined && retryAt > this.now() ? retryAt : undefined;
  }

  /**
   * The provider said 429: nobody in the fleet sends before `until` (default: a short pause of two
   * intervals, at least 250 ms — the provider's window frees as its oldest request ages out).
   */
  async backoff(limit: RateLimit, until?: number): Promise<void> {
    const pause = Math.max(250, 2 * this.interval(limit));
    const at = Math.min(until ?? Number.POSITIVE_INFINITY, this.now() + pause);
    await this.ensureRow(limit.key);
    this.statements++;
    await this.db
      .updateTable('provider_limits')
      .set({ next_at: at })
      .where('name', '=', limit.key)
      .where('next_at', '<', at)
      .execute();
    this.known.set(limit.key, Math.max(this.known.get(limit.key) ?? 0, at));
    this.seen.set(limit.key, Math.max(this.seen.get(limit.key) ?? 0, at));
  }

  private async flush(): Promise<void> {
    const batches = [...this.pending.values()];
    this.pending.clear();
    this.flushing = false;
    await Promise.all(
      batches.map(async (batch) => {
        try {
          const results = await this.take(
            batch[0]!.limit,
            batch.map((p) => p.notBefore),
          );
          for (const [i, p] of batch.entries()) p.resolve(results[i]!);
        } catch (error) {
          for (const p of batch) p.reject(error);
        }
      }),
    );
  }

  private readonly rows = new Set<string>();

  private async ensureRow(key: string): Promise<void> {
    if (this.rows.has(key)) return;
    this.statements++;
    await this.db.insertInto('provider_limits').values({ name: key, next_at: 0 }).orIgnore().execute();
    this.rows.add(key);
  }

  /**
   * Slots for requests that may not go out before `notBefore[i]`, in one read and one guarded write:
   * from the row's next_at on, one interval apart (later where a request is not due yet), as many as
   * fit within the horizon. Answers in the order asked.
   */
  private async take(limit: RateLimit, notBefore: number[]): Promise<Reservation[]> {
    await this.ensureRow(limit.key);
    const interval = this.interval(limit);
    const want = notBefore.length;
    const order = notBefore.map((_, i) => i).sort((a, b) => notBefore[a]! - notBefore[b]!);
    // Several processes asking for a few slots each would each get one, and pay a claim per request:
    // a batch is granted only when a fair share of the horizon (or all it asks for) is free.
    const least = Math.min(want, Math.max(1, Math.floor(this.horizonMs / interval / 2)));
    if (dialectOf(this.db) === 'mysql') {
      const answers = await this.takeAtOnce(limit, notBefore, order, least);
      if (answers) return answers;
    }
    // Read the row, count the slots from it, and move it with an UPDATE guarded on what was read.
    // The first try goes on the value this process last saw (next_at only moves forward, and when the
    // process was the last to move it the guess is right): one statement instead of two.
    let guess = this.seen.get(limit.key);
    for (let attempt = 0; attempt < 5; attempt++) {
      let seen: number;
      if (guess !== undefined) {
        seen = guess;
        guess = undefined;
      } else {
        this.statements++;
        const row = await this.db
          .selectFrom('provider_limits')
          .select('next_at')
          .where('name', '=', limit.key)
          .executeTakeFirstOrThrow();
        seen = Number(row.next_at);
        this.seen.set(limit.key, seen);
      }
      const now = this.now();
      const slots = slotTimes(Math.max(seen, now), order, notBefore, interval, now + this.horizonMs);
      if (slots.length < least) return this.refuse(limit, Math.max(seen, now), least, notBefore);
      const until = Math.ceil(slots[slots.length - 1]! + interval);
      this.statements++;
      // Slots were counted from max(next_at, now): any next_at up to now gives the same ones.
      const result = await this.db
        .updateTable('provider_limits')
        .set({ next_at: until })
        .where('name', '=', limit.key)
        .where('next_at', seen <= now ? '<=' : '=', Math.max(seen, now))
        .executeTakeFirst();
      if (affectedRows(result) !== 1) continue; // another process moved it: read again
      this.seen.set(limit.key, until);
      this.known.set(limit.key, until);
      return this.answers(notBefore, order, slots, until);
    }
    return notBefore.map(() => ({ ok: false, retryAt: this.now() + interval }));
  }

  /**
   * MySQL: the reservation in one statement whatever other processes did since this one last looked.
   * The UPDATE moves the row relative to its own value (`greatest(next_at, now)` on) and hands the
   * value it found back through LAST_INSERT_ID(expr), which the server reports with the UPDATE's
   * result; the slots follow from it exactly as the statement counted them. It asks for as many slots
   * as fit after the value last seen (a lower bound) and takes all or none: none (the row moved on
   * further) falls back to the read and guarded write; too few even then is a refusal with no
   * statement at all.
   */
  private async takeAtOnce(
    limit: RateLimit,
    notBefore: number[],
    order: number[],
    least: number,
  ): Promise<Reservation[] | null> {
    const interval = this.interval(limit);
    const now = this.now();
    const horizon = now + this.horizonMs;
    const floor = this.seen.get(limit.key) ?? 0;
    const k = slotTimes(Math.max(floor, now), order, notBefore, interval, horizon).length;
    if (k < least) return this.refuse(limit, Math.max(floor, now), least, notBefore);
    // The last of k slots, one interval apart from greatest(next_at, now) and none before its job's
    // due time: greatest(base + (k-1)·interval, max over i of notBefore_i + (k-1-i)·interval).
    const due = Math.max(...order.slice(0, k).map((i, n) => notBefore[i]! + (k - 1 - n) * interval));
    const spread = (k - 1) * interval;
    await this.ensureRow(limit.key);
    this.statements++;
    const result = await sql`
      update provider_limits
      set next_at = ceil(greatest(greatest(last_insert_id(next_at), ${now}) + ${spread}, ${due}) + ${interval})
      where name = ${limit.key} and greatest(greatest(next_at, ${now}) + ${spread}, ${due}) <= ${horizon}`.execute(
      this.db,
    );
    if (Number(result.numAffectedRows ?? 0) !== 1) return null;
    const found = Number(result.insertId ?? 0);
    const slots = slotTimes(Math.max(found, now), order.slice(0, k), notBefore, interval, horizon);
    if (slots.length === 0) return null;
    const until = Math.ceil(slots[slots.length - 1]! + interval);
    // A lower bound of the row (the server's arithmetic may round a millisecond the other way).
    this.seen.set(limit.key, until - 1);
    this.known.set(limit.key, until - 1);
    return this.answers(notBefore, order, slots, until);
  }

  /** No slot now: not worth asking again before `least` slots after `base` are free (the row only moves on). */
  private refuse(limit: RateLimit, base: number, least: number, notBefore: number[]): Reservation[] {
    const enough = Math.ceil(base + (least - 1) * this.interval(limit));
    this.known.set(limit.key, enough);
    return notBefore.map(() => ({ ok: false, retryAt: enough - this.horizonMs }));
  }

  /** The slots granted, in the order asked; the rest come back when the row reaches the horizon. */
  private answers(notBefore: number[], order: number[], slots: number[], until: number): Reservation[] {
    const answers: Reservation[] = notBefore.map(() => ({ ok: false, retryAt: until - this.horizonMs }));
    for (const [k, at] of slots.entries()) answers[order[k]!] = { ok: true, at: Math.round(at) };
    return answers;
  }
}

/**
 * Send times for requests taken in `order` from `base` on: one interval apart, none before its
 * request's `notBefore`, none past `horizon`.
 */
function slotTimes(
  base: number,
  order: number[],
  notBefore: number[],
  interval: number,
  horizon: number,
): number[] {
  const slots: number[] = [];
  let next = base;
  for (const i of order) {
    const at = Math.max(next, notBefore[i]!);
    if (at > horizon) break;
    slots.push(at);
    next = at + interval;
  }
  return slots;
}
