import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Kysely } from 'kysely';
import type { Database, NewJob, User } from '../db/schema.ts';
import type { InnerContext } from '../server/context.ts';
import { newId } from '../server/services/ids.ts';
import { JobRunner, type RunnerOptions } from '../server/services/jobs/runner.ts';
import { callerFor } from './context.ts';
import { ledgerMismatches } from './db.ts';

/** A runner tuned for tests: fast polls, short leases, loopback downloads allowed. */
export function testRunner(inner: InnerContext, options: Partial<RunnerOptions> = {}): JobRunner {
  return new JobRunner(inner, {
    concurrency: 4,
    prefix: inner.config.OSS_PREFIX,
    tmpDir: fs.mkdtempSync(path.join(os.tmpdir(), 'df-runner-')),
    allowPrivateNetwork: true,
    pollIntervalMs: 20,
    maxPollIntervalMs: 100,
    idlePollMs: 50,
    leaseMs: 2_000,
    ...options,
  });
}

let counter = 0;

/** Signs up a fresh user through the procedure and returns the row. */
export async function signUpUser(inner: InnerContext, email?: string): Promise<User> {
  const address = email ?? `user${Date.now()}${counter++}@example.com`;
  const { user } = await callerFor(inner).auth.signUp({ email: address, password: 'sturdy-pass-1' });
  return inner.db.selectFrom('users').selectAll().where('id', '=', user.id).executeTakeFirstOrThrow();
}

export async function setBalance(db: Kysely<Database>, userId: string, balance: number) {
  // Through the ledger, so the invariant holds: one grant or charge row for the difference.
  const { credit_balance } = await db
    .selectFrom('users')
    .select('credit_balance')
    .where('id', '=', userId)
    .executeTakeFirstOrThrow();
  const diff = balance - credit_balance;
  if (diff === 0) return;
  const { moveCredits } = await import('../server/services/billing.ts');
  await db
    .transaction()
    .execute((trx) =>
      moveCredits(trx, { userId, amount: diff, kind: diff > 0 ? 'grant' : 'charge', now: Date.now() }),
    );
}

export async function balanceOf(db: Kysely<Database>, userId: string): Promise<number> {
  const row = await db
    .selectFrom('users')
    .select('credit_balance')
    .where('id', '=', userId)
    .executeTakeFirstOrThrow();
  return Number(row.credit_balance);
}

export async function ledgerOf(db: Kysely<Database>, userId: string) {
  return db.selectFrom('credit_ledger').selectAll().where('user_id', '=', userId).orderBy('id').execute();
}

/** SUM(amount) equals the balance, for this user. */
export async function assertLedgerInvariant(db: Kysely<Database>, userId: string): Promise<void> {
  const [broken] = await ledgerMismatches(db, [userId]);
  if (broken) throw new Error(`ledger sum ${broken.ledgerSum} != balance ${broken.balance}`);
}

export const sha256 = (bytes: Buffer | Uint8Array) => createHash('sha256').update(bytes).digest('hex');

export async function until<T>(
  fn: () => Promise<T | undefined | null | false>,
  timeoutMs = 20_000,
  stepMs = 25,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value) return value;
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

/** A jobs row as the API inserts it, queued and due now; `overrides` for the rest. */
export const jobRow = (userId: string, overrides: Partial<NewJob> = {}): NewJob => ({
  id: newId(),
  user_id: userId,
  kind: 'image',
  status: 'queued',
  stage: 'queued',
  progress: 0,
  status_sequence: 1,
  model: 'demo-image',
  provider: 'demo',
  prompt: 'a job',
  params: '{}',
  cost: 0,
  refunded: 0,
  provider_task_id: null,
  submit_sent_at: null,
  attempts: 0,
  lease_owner: null,
  lease_until: null,
  next_attempt_at: Date.now(),
  idempotency_key: null,
  request_hash: null,
  error_code: null,
  error_message: null,
  created_at: Date.now(),
  started_at: null,
  finished_at: null,
  ...overrides,
});
