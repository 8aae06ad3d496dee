import type { Kysely } from 'kysely';
import { affectedRows } from '../../../db/dialect.ts';
import type { Database } from '../../../db/schema.ts';
import type { RateLimit } from '../../providers/provider.ts';

export type Reservation = { ok: true; at: number } | { ok: false; retryAt: number };

interface Pending {
  limit: RateLimit;
  resolve: (r: Reservation) => void;
  reject: (e: unknown) => void;
}

export interface FleetLimiterOptions {
  /** How far ahead a slot may be reserved; a step waits at most this long for it. Default 1000 ms. */
  horizonMs?: number;
  /**
   * Share of the declared rate actually used (default 0.9): requests leave at their slot times but
   * arrive a little jittered (a busy event loop, a slow DNS), and the provider counts arrivals.
   */
  headroom?: number;
  now?: () => number;
}

/**
 * Provider account limits for the whole fleet, kept in the database (GCRA): the `provider_limits` row
 * of an operation holds the earliest time the next request may go out. Reserving k requests reads it
 * and moves it forward by k intervals with a guarded UPDATE (`where next_at = <what was read>`), so two
 * processes can never hand out the same slot. Requests reserved in the same tick share one round trip;
 * a process that knows the next slot is beyond its horizon answers without asking the database.
 * A 429 pushes the row forward (`backoff`), slowing every process at once.
 */
export class FleetLimiter {
  private readonly horizonMs: number;
  private readonly headroom: number;
  private readonly now: () => number;
  /** Last next_at seen per key: a lower bound, since it only moves forward. */
  private readonly known = new Map<string, number>();
  private readonly pending = new Map<string, Pending[]>();
  private flushing = false;
  /** Database statements issued (tests and benchmarks). */
  statements = 0;

  constructor(
    private readonly db: Kysely<Database>,
    options: FleetLimiterOptions = {},
  ) {
    this.horizonMs = options.horizonMs ?? 1000;
    this.headroom = options.headroom ?? 0.9;
    this.now = options.now ?? Date.now;
  }

  private interval(limit: RateLimit): number {
    return 1000 / (limit.perSecond * this.headroom);
  }

  /**
   * A slot for one request: `{ ok: true, at }` (wait until `at`, at most the horizon, then send) or
   * `{ ok: false, retryAt }` (no slot soon: come back then).
   */
  reserve(limit: RateLimit): Promise<Reservation> {
    const known = this.known.get(limit.key);
    const now = this.now();
    if (known !== undefined && known - this.horizonMs > now) {
      return Promise.resolve({ ok: false, retryAt: known - this.horizonMs });
    }
    return new Promise((resolve, reject) => {
      const list = this.pending.get(limit.key) ?? [];
      list.push({ limit, resolve, reject });
      this.pending.set(limit.key, list);
      if (!this.flushing) {
        this.flushing = true;
        setImmediate(() => void this.flush());
      }
    });
  }

  /** The provider said 429: nobody in the fleet sends before `until`. */
  async backoff(limit: RateLimit, until: number): Promise<void> {
    await this.ensureRow(limit.key);
    this.statements++;
    await this.db
      .updateTable('provider_limits')
      .set({ next_at: until })
      .where('name', '=', limit.key)
      .where('next_at', '<', until)
      .execute();
    this.known.set(limit.key, Math.max(this.known.get(limit.key) ?? 0, until));
  }

  private async flush(): Promise<void> {
    const batches = [...this.pending.values()];
    this.pending.clear();
    this.flushing = false;
    await Promise.all(
      batches.map(async (batch) => {
        try {
          const results = await this.take(batch[0]!.limit, batch.length);
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

  /** Reserves up to `want` consecutive slots within the horizon, in one read and one guarded write. */
  private async take(limit: RateLimit, want: number): Promise<Reservation[]> {
    await this.ensureRow(limit.key);
    const interval = this.interval(limit);
    for (let attempt = 0; attempt < 5; attempt++) {
      this.statements++;
      const row = await this.db
        .selectFrom('provider_limits')
        .select('next_at')
        .where('name', '=', limit.key)
        .executeTakeFirstOrThrow();
      const seen = Number(row.next_at);
      const now = this.now();
      const base = Math.max(seen, now);
      const room = Math.floor((now + this.horizonMs - base) / interval) + 1;
      const granted = Math.max(0, Math.min(want, room));
      if (granted === 0) {
        this.known.set(limit.key, seen);
        return Array.from({ length: want }, () => ({ ok: false, retryAt: base - this.horizonMs }));
      }
      const next = Math.ceil(base + granted * interval);
      this.statements++;
      const result = await this.db
        .updateTable('provider_limits')
        .set({ next_at: next })
        .where('name', '=', limit.key)
        .where('next_at', '=', seen)
        .executeTakeFirst();
      if (affectedRows(result) !== 1) continue; // another process moved it: read again
      this.known.set(limit.key, next);
      return Array.from({ length: want }, (_, i) =>
        i < granted
          ? { ok: true as const, at: Math.round(base + i * interval) }
          : { ok: false as const, retryAt: next - this.horizonMs },
      );
    }
    return Array.from({ length: want }, () => ({ ok: false, retryAt: this.now() + interval }));
  }
}
