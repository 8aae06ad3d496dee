import { z } from 'zod';
import { PASSWORD_MIN_LENGTH } from '../limits.ts';

export { PASSWORD_MIN_LENGTH };

export const Email = z
  .string()
  .trim()
  .max(320)
  .pipe(z.email({ message: 'Enter a valid email address' }))
  .transform((e) => e.toLowerCase());

/** A new password: long enough (the server also refuses the most common ones). */
export const NewPassword = z
  .string()
  .min(PASSWORD_MIN_LENGTH, { message: `Password must be at least ${PASSWORD_MIN_LENGTH} characters` })
  .max(200);

export const SignUpInput = z.object({
  email: Email,
  password: NewPassword,
});
export type SignUpInput = z.infer<typeof SignUpInput>;

export const SignInInput = z.object({ email: Email, password: z.string().min(1).max(200) });
export type SignInInput = z.infer<typeof SignInInput>;

export const UserView = z.object({
  id: z.string(),
  email: z.string(),
  role: z.enum(['user', 'admin']),
  creditBalance: z.number().int(),
  /** Whether the address was confirmed through the emailed link. */
  emailVerified: z.boolean().optional(),
});
export type UserView = z.infer<typeof UserView>;

export const CreateApiTokenInput = z.object({
  name: z.string().trim().min(1).max(100),
  /** Days until the token stops working; absent = no expiry. */
  expiresInDays: z.number().int().min(1).max(3650).optional(),
  /** Admin power for this token; only an admin may ask, and only explicitly. */
  admin: z.boolean().optional(),
});
export const RevokeApiTokenInput = z.object({ id: z.string().min(1).max(64) });

/**
 * A single-use link's token (email verification, password reset). Any non-empty token is looked up: one
 * that matches no stored hash is the link's own reason (VERIFY_LINK_INVALID, RESET_LINK_INVALID), not a
 * form error, however short it is.
 */
const LinkToken = z.string().trim().min(1).max(200);

export const VerifyEmailInput = z.object({ token: LinkToken });
export const RequestPasswordResetInput = z.object({ email: Email });
export const ResetPasswordInput = z.object({ token: LinkToken, password: NewPassword });
export const ChangePasswordInput = z.object({
  currentPassword: z.string().min(1).max(200),
  newPassword: NewPassword,
});

export const AuditListInput = z
  .object({
    cursor: z.number().int().positive().nullish(),
    limit: z.number().int().min(1).max(200).default(50),
    action: z.string().trim().max(40).optional(),
  })
  .default({ limit: 50 });
