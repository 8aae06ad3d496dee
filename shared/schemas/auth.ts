import { z } from 'zod';
import { PASSWORD_MIN_LENGTH } from '../limits.ts';

export { PASSWORD_MIN_LENGTH };

export const Email = z
  .string()
  .trim()
  .max(320)
  .pipe(z.email({ message: 'Enter a valid email address' }))
  .transform((e) => e.toLowerCase());

export const SignUpInput = z.object({
  email: Email,
  password: z
    .string()
    .min(PASSWORD_MIN_LENGTH, { message: `Password must be at least ${PASSWORD_MIN_LENGTH} characters` })
    .max(200),
});
export type SignUpInput = z.infer<typeof SignUpInput>;

export const SignInInput = z.object({ email: Email, password: z.string().min(1).max(200) });
export type SignInInput = z.infer<typeof SignInInput>;

export const UserView = z.object({
  id: z.string(),
  email: z.string(),
  role: z.enum(['user', 'admin']),
  creditBalance: z.number().int(),
});
export type UserView = z.infer<typeof UserView>;

export const CreateApiTokenInput = z.object({ name: z.string().trim().min(1).max(100) });
export const RevokeApiTokenInput = z.object({ id: z.string().min(1).max(64) });
