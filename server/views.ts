import type { LedgerRow, User } from '../db/schema.ts';
import type { UserView } from '../shared/schemas/auth.ts';

/** What a client may see of a user: never the password hash. */
export const userView = (u: User): UserView => ({
  id: u.id,
  email: u.email,
  role: u.role,
  creditBalance: u.credit_balance,
});

export const ledgerView = (r: LedgerRow) => ({
  id: r.id,
  amount: r.amount,
  kind: r.kind,
  jobId: r.job_id,
  redemptionId: r.redemption_id,
  note: r.note,
  balanceAfter: r.balance_after,
  createdAt: new Date(r.created_at),
});
