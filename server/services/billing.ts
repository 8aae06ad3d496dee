import type { Kysely } from 'kysely';
import { affectedRows } from '../../db/dialect.ts';
import { toPage } from '../../db/paging.ts';
import type { Database, Job, LedgerKind, LedgerRow } from '../../db/schema.ts';
import { type Executor, inTransaction } from '../../db/transaction.ts';
import { AppError } from '../../shared/errors.ts';
import { countCredits } from '../observability/metrics.ts';
import { findUserJobs } from './jobs/store.ts';

export interface CreditMovement {
  userId: string;
  /** Signed: grants, refunds and redemptions are positive, charges negative. */
  amount: number;
  kind: LedgerKind;
  jobId?: string | null;
  redemptionId?: string | null;
  note?: string | null;
  now: number;
}

/**
 * The one function that changes a balance. It must run inside the caller's transaction: a conditional
 * UPDATE that can never take the balance below zero, then exactly one ledger row, whose
 * `balance_after` the same statement reads from the row just updated (two statements in all).
 * Throws INSUFFICIENT_CREDITS when a debit does not fit. `getBalance` reads the new balance if needed.
 */
export async function moveCredits(trx: Executor, m: CreditMovement): Promise<void> {
  if (!Number.isSafeInteger(m.amount) || m.amount === 0) {
    throw new AppError('VALIDATION', 'Credit amount must be a non-zero integer', {
      reason: 'AMOUNT_INVALID',
    });
  }
  const result = await trx
    .updateTable('users')
    .set((eb) => ({ credit_balance: eb('credit_balance', '+', m.amount) }))
    .where('id', '=', m.userId)
    .where((eb) => eb(eb('credit_balance', '+', m.amount), '>=', 0))
    .executeTakeFirst();
  if (affectedRows(result) !== 1) {
    const exists = await trx.selectFrom('users').select('id').where('id', '=', m.userId).executeTakeFirst();
    if (!exists) throw new AppError('NOT_FOUND', 'User not found', { reason: 'USER_NOT_FOUND' });
    throw new AppError('INSUFFICIENT_CREDITS', `Not enough credits: this needs ${-m.amount}`, {
      reason: 'NOT_ENOUGH_CREDITS',
      params: { needed: -m.amount },
    });
  }
  await trx
    .insertInto('credit_ledger')
    .columns(['user_id', 'amount', 'kind', 'job_id', 'redemption_id', 'note', 'balance_after', 'created_at'])
    .expression((eb) =>
      eb
        .selectFrom('users')
        .select([
          'id',
          eb.val(m.amount).as('amount'),
          eb.val(m.kind).as('kind'),
          eb.val(m.jobId ?? null).as('job_id'),
          eb.val(m.redemptionId ?? null).as('redemption_id'),
          eb.val(m.note ?? null).as('note'),
          'credit_balance',
          eb.val(m.now).as('created_at'),
        ])
        .where('id', '=', m.userId),
    )
    .execute();
  countCredits(m.kind, m.amount);
}

/** moveCredits in its own transaction, answering the new balance. */
async function moveCreditsAlone(db: Kysely<Database>, m: CreditMovement): Promise<{ balance: number }> {
  return inTransaction(db, async (trx) => {
    await moveCredits(trx, m);
    return { balance: await getBalance(trx, m.userId) };
  });
}

/** Throws VALIDATION unless the amount is a positive whole number of credits. */
function assertPositive(amount: number, what: string): void {
  if (!Number.isSafeInteger(amount) || amount <= 0) {
    throw new AppError('VALIDATION', `${what} must be a positive whole number of credits`, {
      reason: 'AMOUNT_INVALID',
      fields: ['amount'],
    });
  }
}

/** Adds credits (admin grants); its own transaction. */
export async function grantCredits(
  db: Kysely<Database>,
  input: { userId: string; amount: number; note?: string | null; now: number },
): Promise<{ balance: number }> {
  assertPositive(input.amount, 'A grant');
  return moveCreditsAlone(db, { ...input, kind: 'grant' });
}

/** An operator's grant to the account with this email. */
export async function grantCreditsByEmail(
  db: Kysely<Database>,
  input: { email: string; amount: number; note?: string | null; now: number },
): Promise<{ balance: number }> {
  const user = await db.selectFrom('users').select('id').where('email', '=', input.email).executeTakeFirst();
  if (!user)
    throw new AppError('NOT_FOUND', `No account with email ${input.email}`, {
      reason: 'NO_ACCOUNT_WITH_EMAIL',
      params: { email: input.email },
    });
  return grantCredits(db, { userId: user.id, amount: input.amount, note: input.note, now: input.now });
}

/** Debits credits; its own transaction. Jobs charge inside their own transaction via moveCredits. */
export async function chargeCredits(
  db: Kysely<Database>,
  input: { userId: string; amount: number; jobId?: string | null; note?: string | null; now: number },
): Promise<{ balance: number }> {
  assertPositive(input.amount, 'A charge');
  return moveCreditsAlone(db, { ...input, amount: -input.amount, kind: 'charge' });
}

/** Credits back; its own transaction. */
export async function refundCredits(
  db: Kysely<Database>,
  input: { userId: string; amount: number; jobId?: string | null; note?: string | null; now: number },
): Promise<{ balance: number }> {
  assertPositive(input.amount, 'A refund');
  return moveCreditsAlone(db, { ...input, kind: 'refund' });
}

export async function getBalance(db: Executor, userId: string): Promise<number> {
  const row = await db
    .selectFrom('users')
    .select('credit_balance')
    .where('id', '=', userId)
    .executeTakeFirst();
  if (!row) throw new AppError('NOT_FOUND', 'User not found', { reason: 'USER_NOT_FOUND' });
  return row.credit_balance;
}

/** Ledger rows, newest first, with an id cursor. */
export async function listLedger(
  db: Executor,
  input: { userId: string; cursor?: number | null; limit: number },
): Promise<{ items: LedgerRow[]; nextCursor: number | null }> {
  let query = db
    .selectFrom('credit_ledger')
    .selectAll()
    .where('user_id', '=', input.userId)
    .orderBy('id', 'desc')
    .limit(input.limit + 1);
  if (input.cursor != null) query = query.where('id', '<', input.cursor);
  return toPage(await query.execute(), input.limit, (row) => row.id);
}

/** Ledger rows with the job each one belongs to (charges and refunds), so a client can describe them. */
export async function listLedgerWithJobs(
  db: Executor,
  input: { userId: string; cursor?: number | null; limit: number },
): Promise<{ items: (LedgerRow & { job: Job | null })[]; nextCursor: number | null }> {
  const page = await listLedger(db, input);
  const ids = [...new Set(page.items.flatMap((row) => (row.job_id ? [row.job_id] : [])))];
  const jobs = new Map((await findUserJobs(db, input.userId, ids)).map((job) => [job.id, job]));
  return {
    items: page.items.map((row) => ({ ...row, job: (row.job_id && jobs.get(row.job_id)) || null })),
    nextCursor: page.nextCursor,
  };
}
