import { z } from 'zod';
import { Email } from './auth.ts';
import { Cursor } from './generation.ts';

export const CreditsHistoryInput = z
  .object({
    cursor: z.number().int().positive().nullish(),
    limit: z.number().int().min(1).max(100).default(20),
  })
  .default({ limit: 20 });

export const GrantCreditsInput = z.strictObject({
  email: Email,
  amount: z
    .number({ message: 'Amount must be a number' })
    .int({ message: 'Amount must be a whole number of credits' })
    .positive({ message: 'Amount must be positive' })
    .max(1_000_000_000),
  note: z.string().trim().max(500).default(''),
});
export type GrantCreditsInput = z.infer<typeof GrantCreditsInput>;

export const AdminUsersListInput = z
  .object({
    cursor: Cursor.nullish(),
    limit: z.number().int().min(1).max(200).default(50),
    search: z.string().trim().max(320).optional(),
  })
  .default({ limit: 50 });

export type LedgerKind = 'signup_bonus' | 'grant' | 'charge' | 'refund' | 'redeem';
