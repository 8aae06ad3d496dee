import { createHash, randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import { affectedRows, isUniqueViolation } from '../../db/dialect.ts';
import type { Database } from '../../db/schema.ts';
import { type Executor, inTransaction } from '../../db/transaction.ts';
import { type AppCode, AppError } from '../../shared/errors.ts';
import {
  CODE_ALPHABET,
  CODE_GROUP_LENGTH,
  CODE_GROUPS,
  MAX_CODES_PER_BATCH,
  normaliseCode,
} from '../../shared/schemas/redeem.ts';
import { getBalance, moveCredits } from './billing.ts';
import { newId } from './ids.ts';
import { ipKey, type RateLimitRule, reserveAttempt } from './rate-limit.ts';

/** Failed redemptions allowed per user and per IP before RATE_LIMITED (SPEC §9). */
export const REDEEM_LIMIT: RateLimitRule = { limit: 20, windowMs: 60 * 60 * 1000 };
/** Characters kept in clear for support ("the code starting with 7KQ4"); the other 105 bits stay secret. */
export const CODE_PREFIX_LENGTH = 4;
/** Rows per INSERT: 500 × 12 columns stays far below SQLite's and MySQL's placeholder limits. */
const INSERT_CHUNK = 500;
/**
 * The refusals that count towards the rate limit: the ones a guesser gets. Losing a race for a real code
 * (EXHAUSTED) or trying one twice (ALREADY_REDEEMED) proves the code was known, not guessed; counting
 * them would let a popular promo code that ran out lock everyone behind one NAT address out for an hour.
 */
const COUNTED_FAILURES = new Set<AppCode>(['CODE_INVALID', 'CODE_EXPIRED']);

/** The stored form of a code: SHA-256 of its normalised text. 125 random bits need no salt or secret. */
export const hashCode = (code: string): string =>
  createHash('sha256').update(normaliseCode(code)).digest('hex');

/** `count` codes like `7KQ4M-...` (5 groups of 5), from the CSPRNG; 256 is a multiple of 32, so no bias. */
export function generateCodes(count: number): string[] {
  const length = CODE_GROUPS * CODE_GROUP_LENGTH;
  const bytes = randomBytes(count * length);
  const codes: string[] = [];
  for (let i = 0; i < count; i++) {
    let code = '';
    for (let j = 0; j < length; j++) {
      if (j > 0 && j % CODE_GROUP_LENGTH === 0) code += '-';
      code += CODE_ALPHABET[(bytes[i * length + j] ?? 0) & 31];
    }
    codes.push(code);
  }
  return codes;
}

export interface CreateBatchInput {
  credits: number;
  count: number;
  maxRedemptions?: number;
  expiresAt?: Date | null;
  note?: string | null;
  /** The admin's user id. */
  createdBy: string;
  now: number;
}

/** Creates a batch of codes in one transaction; the plaintext codes are returned here and nowhere else. */
export async function createCodeBatch(
  db: Kysely<Database>,
  input: CreateBatchInput,
): Promise<{ batchId: string; codes: string[] }> {
  const maxRedemptions = input.maxRedemptions ?? 1;
  const expiresAt = input.expiresAt ? input.expiresAt.getTime() : null;
  if (!Number.isInteger(input.count) || input.count < 1 || input.count > MAX_CODES_PER_BATCH)
    throw new AppError('VALIDATION', `A batch has 1 to ${MAX_CODES_PER_BATCH} codes`, {
      reason: 'BATCH_COUNT',
      params: { max: MAX_CODES_PER_BATCH },
      fields: ['count'],
    });
  if (!Number.isSafeInteger(input.credits) || input.credits < 1)
    throw new AppError('VALIDATION', 'A code is worth a positive whole number of credits', {
      reason: 'AMOUNT_INVALID',
      fields: ['credits'],
    });
  if (!Number.isSafeInteger(maxRedemptions) || maxRedemptions < 1)
    throw new AppError('VALIDATION', 'maxRedemptions must be a positive whole number', {
      reason: 'MAX_REDEMPTIONS_INVALID',
      fields: ['maxRedemptions'],
    });
  if (expiresAt !== null && !(expiresAt > input.now))
    throw new AppError('VALIDATION', 'The expiry date must be in the future', {
      reason: 'EXPIRY_IN_PAST',
      fields: ['expiresAt'],
    });

  const batchId = newId();
  // Generated outside the transaction, so a retried transaction inserts the same codes it returns.
  const codes = generateCodes(input.count);
  const rows = codes.map((code) => ({
    id: newId(),
    batch_id: batchId,
    code_hash: hashCode(code),
    code_prefix: code.slice(0, CODE_PREFIX_LENGTH),
    credits: input.credits,
    max_redemptions: maxRedemptions,
    redeemed_count: 0,
    expires_at: expiresAt,
    disabled_at: null,
    note: input.note || null,
    created_by: input.createdBy,
    created_at: input.now,
  }));
  await inTransaction(db, async (trx) => {
    for (let i = 0; i < rows.length; i += INSERT_CHUNK) {
      await trx
        .insertInto('redemption_codes')
        .values(rows.slice(i, i + INSERT_CHUNK))
        .execute();
    }
  });
  return { batchId, codes };
}

/** The CSV an admin downloads once: `code,credits,max_redemptions,expires_at,batch_id`. */
export function codesCsv(batch: {
  batchId: string;
  codes: string[];
  credits: number;
  maxRedemptions: number;
  expiresAt: Date | null;
}): string {
  const expires = batch.expiresAt ? batch.expiresAt.toISOString() : '';
  const lines = batch.codes.map(
    (code) => `${code},${batch.credits},${batch.maxRedemptions},${expires},${batch.batchId}`,
  );
  return `code,credits,max_redemptions,expires_at,batch_id\n${lines.join('\n')}\n`;
}

/**
 * Redeems a code for a user in one transaction. Failed attempts are counted per user and per IP, and
 * RATE_LIMITED refuses even a valid code once there are too many, so codes cannot be guessed.
 */
export async function redeemCode(
  db: Kysely<Database>,
  input: { userId: string; code: string; ip: string | null; now: number },
): Promise<{ credits: number; balance: number }> {
  const buckets = [`redeem:user:${input.userId}`, ...(input.ip ? [`redeem:ip:${ipKey(input.ip)}`] : [])];
  // Reserved before the check (outside the transaction, so a rolled-back failure still counts):
  // concurrent guesses cannot all pass a count read before any of them wrote.
  const reservation = await reserveAttempt(
    db,
    buckets.map((bucket) => ({ bucket, tiers: [REDEEM_LIMIT] })),
    input.now,
    { reason: 'LOCKED_OUT', message: 'Too many failed attempts; try again later' },
  );
  try {
    const result = await inTransaction(db, (trx) => redeemInTransaction(trx, input));
    await reservation.release();
    return result;
  } catch (thrown) {
    // The same user racing themselves for a code's last place: on MySQL the loser's claim waited for the
    // winner's row lock and found the code used up, but its snapshot could not see the winner's
    // redemption. Read after the rollback, it is there: the answer is the one a second try would get.
    const error =
      thrown instanceof AppError && thrown.code === 'CODE_EXHAUSTED' && (await redeemedBy(db, input))
        ? alreadyRedeemed()
        : thrown;
    // Only the refusals a guesser gets count; anything else gives the place back.
    if (error instanceof AppError && COUNTED_FAILURES.has(error.code)) await reservation.keep();
    else await reservation.release();
    throw error;
  }
}

const alreadyRedeemed = () => new AppError('CODE_ALREADY_REDEEMED', 'You have already redeemed this code');

/** Whether the user has redeemed this code (by its text). */
async function redeemedBy(db: Executor, input: { userId: string; code: string }): Promise<boolean> {
  const row = await db
    .selectFrom('redemptions')
    .innerJoin('redemption_codes', 'redemption_codes.id', 'redemptions.code_id')
    .select('redemptions.id')
    .where('redemption_codes.code_hash', '=', hashCode(input.code))
    .where('redemptions.user_id', '=', input.userId)
    .executeTakeFirst();
  return row !== undefined;
}

async function redeemInTransaction(
  trx: Executor,
  input: { userId: string; code: string; now: number },
): Promise<{ credits: number; balance: number }> {
  const code = await trx
    .selectFrom('redemption_codes')
    .select(['id', 'code_prefix', 'credits', 'expires_at', 'disabled_at'])
    .where('code_hash', '=', hashCode(input.code))
    .executeTakeFirst();
  if (!code) throw new AppError('CODE_INVALID', 'This code is not valid; check it and try again');
  if (code.disabled_at !== null)
    throw new AppError('CODE_INVALID', 'This code has been disabled', { reason: 'CODE_DISABLED' });
  if (code.expires_at !== null && code.expires_at <= input.now)
    throw new AppError('CODE_EXPIRED', 'This code has expired');
  const previous = await trx
    .selectFrom('redemptions')
    .select('id')
    .where('code_id', '=', code.id)
    .where('user_id', '=', input.userId)
    .executeTakeFirst();
  if (previous) throw alreadyRedeemed();

  // The guard is the WHERE clause and the affected-row count, not a lock: of N concurrent redemptions,
  // only max_redemptions can match it, whatever the isolation level.
  const claimed = await trx
    .updateTable('redemption_codes')
    .set((eb) => ({ redeemed_count: eb('redeemed_count', '+', 1) }))
    .where('id', '=', code.id)
    .whereRef('redeemed_count', '<', 'max_redemptions')
    .where('disabled_at', 'is', null)
    .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', input.now)]))
    .executeTakeFirst();
  if (affectedRows(claimed) !== 1) throw new AppError('CODE_EXHAUSTED', 'This code has been used up');

  const redemptionId = newId();
  const credits = Number(code.credits);
  try {
    await trx
      .insertInto('redemptions')
      .values({
        id: redemptionId,
        code_id: code.id,
        user_id: input.userId,
        credits,
        created_at: input.now,
      })
      .execute();
  } catch (error) {
    // The same user racing themselves on a multi-use code: the unique (code_id, user_id) decides.
    if (isUniqueViolation(error)) throw alreadyRedeemed();
    throw error;
  }
  await moveCredits(trx, {
    userId: input.userId,
    amount: credits,
    kind: 'redeem',
    redemptionId,
    note: `Redemption code ${code.code_prefix}…`,
    now: input.now,
  });
  return { credits, balance: await getBalance(trx, input.userId) };
}

export interface BatchSummary {
  batchId: string;
  note: string | null;
  credits: number;
  count: number;
  maxRedemptions: number;
  /** Redemptions over all codes of the batch. */
  redemptions: number;
  /** Codes with no redemption left. */
  exhaustedCount: number;
  disabledCount: number;
  expiresAt: Date | null;
  createdAt: Date;
  /** The creating admin's email. */
  createdBy: string;
}

/** Batches, newest first (batch ids are UUIDv7), with their usage; cursor = the last batch id seen. */
export async function listBatches(
  db: Executor,
  input: { cursor?: string | null; limit: number },
): Promise<{ items: BatchSummary[]; nextCursor: string | null }> {
  let query = db
    .selectFrom('redemption_codes as c')
    .innerJoin('users as u', 'u.id', 'c.created_by')
    .select((eb) => [
      'c.batch_id',
      // Every code of a batch carries the same batch fields, so MIN just picks them.
      eb.fn.min('c.note').as('note'),
      eb.fn.min('c.credits').as('credits'),
      eb.fn.countAll().as('count'),
      eb.fn.min('c.max_redemptions').as('max_redemptions'),
      eb.fn.sum('c.redeemed_count').as('redemptions'),
      eb.fn
        .sum(eb.case().when('c.redeemed_count', '>=', eb.ref('c.max_redemptions')).then(1).else(0).end())
        .as('exhausted'),
      eb.fn.sum(eb.case().when('c.disabled_at', 'is not', null).then(1).else(0).end()).as('disabled'),
      eb.fn.min('c.expires_at').as('expires_at'),
      eb.fn.min('c.created_at').as('created_at'),
      eb.fn.min('u.email').as('created_by'),
    ])
    .groupBy('c.batch_id')
    .orderBy('c.batch_id', 'desc')
    .limit(input.limit + 1);
  if (input.cursor) query = query.where('c.batch_id', '<', input.cursor);
  const rows = await query.execute();
  const items = rows.slice(0, input.limit).map(
    (r): BatchSummary => ({
      batchId: r.batch_id,
      note: r.note ?? null,
      credits: Number(r.credits),
      count: Number(r.count),
      maxRedemptions: Number(r.max_redemptions),
      redemptions: Number(r.redemptions),
      exhaustedCount: Number(r.exhausted),
      disabledCount: Number(r.disabled),
      expiresAt: r.expires_at == null ? null : new Date(Number(r.expires_at)),
      createdAt: new Date(Number(r.created_at)),
      createdBy: String(r.created_by),
    }),
  );
  return { items, nextCursor: rows.length > input.limit ? (items.at(-1)?.batchId ?? null) : null };
}

/** Disables one code or a whole batch; returns how many codes this call disabled (0 if they already were). */
export async function disableCodes(
  db: Executor,
  input: ({ batchId: string } | { codeId: string } | { code: string }) & { now: number },
): Promise<{ disabled: number }> {
  const [column, value] =
    'batchId' in input
      ? (['batch_id', input.batchId] as const)
      : 'codeId' in input
        ? (['id', input.codeId] as const)
        : (['code_hash', hashCode(input.code)] as const);
  const result = await db
    .updateTable('redemption_codes')
    .set({ disabled_at: input.now })
    .where(column, '=', value)
    .where('disabled_at', 'is', null)
    .executeTakeFirst();
  const disabled = affectedRows(result);
  if (disabled === 0) {
    const exists = await db
      .selectFrom('redemption_codes')
      .select('id')
      .where(column, '=', value)
      .executeTakeFirst();
    if (!exists) {
      const batch = 'batchId' in input;
      throw new AppError('NOT_FOUND', batch ? 'No such batch' : 'No such code', {
        reason: batch ? 'BATCH_NOT_FOUND' : 'CODE_NOT_FOUND',
      });
    }
  }
  return { disabled };
}
