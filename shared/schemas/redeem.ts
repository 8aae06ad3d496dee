import { z } from 'zod';
import { Cursor } from './generation.ts';

/** The 32 characters a code is made of: no 0/O or 1/I, so a code read aloud or typed is unambiguous. */
export const CODE_ALPHABET = '23456789ABCDEFGHJKLMNPQRSTUVWXYZ';
/** 5 groups of 5 characters, 5 bits each: 125 bits of randomness. */
export const CODE_GROUPS = 5;
export const CODE_GROUP_LENGTH = 5;
export const MAX_CODES_PER_BATCH = 10_000;

/**
 * What a user may have typed or pasted, reduced to the stored form: NFKC folds full-width characters from
 * Chinese input methods, then case is ignored and every space and dash goes.
 */
export const normaliseCode = (code: string): string =>
  code
    .normalize('NFKC')
    .toUpperCase()
    .replace(/[\s\-\u2010-\u2015\u2212]/g, '');

export const RedeemInput = z.strictObject({
  code: z
    .string()
    .max(100, { message: 'That is not a redemption code' })
    .transform(normaliseCode)
    .pipe(z.string().min(1, { message: 'Enter a redemption code' })),
});
export type RedeemInput = z.infer<typeof RedeemInput>;

export const CreateCodesInput = z.strictObject({
  credits: z
    .number()
    .int({ message: 'Credits must be a whole number' })
    .min(1, { message: 'A code is worth at least 1 credit' })
    .max(1_000_000),
  count: z
    .number()
    .int({ message: 'Count must be a whole number' })
    .min(1, { message: 'Create at least one code' })
    .max(MAX_CODES_PER_BATCH, { message: `At most ${MAX_CODES_PER_BATCH} codes per batch` }),
  maxRedemptions: z.number().int().min(1).max(1_000_000).default(1),
  /** Must be in the future; checked against the server clock by the service. */
  expiresAt: z.coerce
    .date()
    .refine((d) => !Number.isNaN(d.getTime()), { message: 'Invalid expiry date' })
    .nullish(),
  note: z.string().trim().max(200).nullish(),
});
export type CreateCodesInput = z.infer<typeof CreateCodesInput>;

export const ListBatchesInput = z
  .object({
    cursor: Cursor.nullish(),
    limit: z.number().int().min(1).max(100).default(20),
  })
  .default({ limit: 20 });
export type ListBatchesInput = z.infer<typeof ListBatchesInput>;

export const DisableCodesInput = z.union([
  z.strictObject({ batchId: z.string().min(1).max(64) }),
  z.strictObject({ codeId: z.string().min(1).max(64) }),
  /** The plaintext code, e.g. pasted from a support ticket: only its hash is looked up. */
  z.strictObject({ code: RedeemInput.shape.code }),
]);
export type DisableCodesInput = z.infer<typeof DisableCodesInput>;
