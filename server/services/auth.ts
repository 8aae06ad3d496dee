import { createHash, randomBytes, scrypt as scryptCb, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';
import type { Kysely } from 'kysely';
import { affectedRows, isUniqueViolation } from '../../db/dialect.ts';
import { toPage } from '../../db/paging.ts';
import type { Database, User } from '../../db/schema.ts';
import { inTransaction } from '../../db/transaction.ts';
import { AppError } from '../../shared/errors.ts';
import { moveCredits } from './billing.ts';
import { newId, newToken } from './ids.ts';
import { assertNotRateLimited, recordFailure } from './rate-limit.ts';

const scrypt = promisify(scryptCb) as (
  pw: string,
  salt: Buffer,
  len: number,
  opts: object,
) => Promise<Buffer>;
const SCRYPT = { N: 16384, r: 8, p: 1, maxmem: 64 * 1024 * 1024 };
export const SESSION_TTL_MS = 30 * 24 * 3600 * 1000;
/** Sign-in failures allowed per email in the window before RATE_LIMITED. */
export const SIGN_IN_LIMIT = { limit: 10, windowMs: 15 * 60 * 1000 };
/** Per IP the limit is higher: many honest users can share one address (NAT, an office). */
export const SIGN_IN_IP_LIMIT = { limit: 100, windowMs: 15 * 60 * 1000 };

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await scrypt(password, salt, 64, SCRYPT);
  return `scrypt$${SCRYPT.N}$${SCRYPT.r}$${SCRYPT.p}$${salt.toString('base64')}$${key.toString('base64')}`;
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [scheme, n, r, p, salt, key] = stored.split('$');
  if (scheme !== 'scrypt' || !salt || !key) return false;
  const expected = Buffer.from(key, 'base64');
  const actual = await scrypt(password, Buffer.from(salt, 'base64'), expected.length, {
    N: Number(n),
    r: Number(r),
    p: Number(p),
    maxmem: SCRYPT.maxmem,
  });
  return timingSafeEqual(actual, expected);
}

/** Tokens are stored only as their SHA-256. */
export const hashToken = (token: string): string => createHash('sha256').update(token).digest('hex');

export interface AuthConfig {
  adminEmails: string[];
  signupBonusCredits: number;
}

/** Creates the account, grants the sign-up bonus and opens a session, in one transaction. */
export async function signUp(
  db: Kysely<Database>,
  config: AuthConfig,
  input: { email: string; password: string; now: number },
): Promise<{ user: User; sessionToken: string; expiresAt: number }> {
  const passwordHash = await hashPassword(input.password);
  const userId = newId();
  const role = config.adminEmails.includes(input.email) ? 'admin' : 'user';
  try {
    return await inTransaction(db, async (trx) => {
      await trx
        .insertInto('users')
        .values({
          id: userId,
          email: input.email,
          password_hash: passwordHash,
          role,
          credit_balance: 0,
          created_at: input.now,
        })
        .execute();
      if (config.signupBonusCredits > 0) {
        await moveCredits(trx, {
          userId,
          amount: config.signupBonusCredits,
          kind: 'signup_bonus',
          note: 'Welcome bonus',
          now: input.now,
        });
      }
      const session = await createSession(trx, userId, input.now);
      const user = await trx
        .selectFrom('users')
        .selectAll()
        .where('id', '=', userId)
        .executeTakeFirstOrThrow();
      return { user, ...session };
    });
  } catch (error) {
    if (isUniqueViolation(error))
      throw new AppError('VALIDATION', 'An account with this email already exists');
    throw error;
  }
}

export async function signIn(
  db: Kysely<Database>,
  config: AuthConfig,
  input: { email: string; password: string; ip: string | null; now: number },
): Promise<{ user: User; sessionToken: string; expiresAt: number }> {
  const emailBucket = `signin:email:${input.email}`;
  const ipBuckets = input.ip ? [`signin:ip:${input.ip}`] : [];
  const buckets = [emailBucket, ...ipBuckets];
  await assertNotRateLimited(db, [emailBucket], SIGN_IN_LIMIT, input.now);
  await assertNotRateLimited(db, ipBuckets, SIGN_IN_IP_LIMIT, input.now);
  const user = await db.selectFrom('users').selectAll().where('email', '=', input.email).executeTakeFirst();
  const ok = user
    ? await verifyPassword(input.password, user.password_hash)
    : await hashPassword(input.password).then(() => false);
  if (!user || !ok) {
    await recordFailure(db, buckets, input.now);
    throw new AppError('UNAUTHENTICATED', 'Wrong email or password');
  }
  // ADMIN_EMAILS is the source of truth for admins, also for accounts made before it changed.
  const role = config.adminEmails.includes(user.email) ? 'admin' : user.role;
  if (role !== user.role) await db.updateTable('users').set({ role }).where('id', '=', user.id).execute();
  const session = await createSession(db, user.id, input.now);
  return { user: { ...user, role }, ...session };
}

async function createSession(db: Kysely<Database>, userId: string, now: number) {
  const sessionToken = newToken('dfs');
  const expiresAt = now + SESSION_TTL_MS;
  await db
    .insertInto('sessions')
    .values({
      id: newId(),
      user_id: userId,
      token_hash: hashToken(sessionToken),
      expires_at: expiresAt,
      created_at: now,
    })
    .execute();
  return { sessionToken, expiresAt };
}

export async function signOut(db: Kysely<Database>, sessionToken: string): Promise<void> {
  await db.deleteFrom('sessions').where('token_hash', '=', hashToken(sessionToken)).execute();
}

export async function userFromSession(
  db: Kysely<Database>,
  sessionToken: string,
  now: number,
): Promise<User | null> {
  const row = await db
    .selectFrom('sessions')
    .innerJoin('users', 'users.id', 'sessions.user_id')
    .selectAll('users')
    .where('sessions.token_hash', '=', hashToken(sessionToken))
    .where('sessions.expires_at', '>', now)
    .executeTakeFirst();
  return row ?? null;
}

export async function userFromApiToken(
  db: Kysely<Database>,
  token: string,
  now: number,
): Promise<User | null> {
  const row = await db
    .selectFrom('api_tokens')
    .innerJoin('users', 'users.id', 'api_tokens.user_id')
    .selectAll('users')
    .select(['api_tokens.id as token_id', 'api_tokens.last_used_at'])
    .where('api_tokens.token_hash', '=', hashToken(token))
    .where('api_tokens.revoked_at', 'is', null)
    .executeTakeFirst();
  if (!row) return null;
  const { token_id, last_used_at, ...user } = row;
  // Touch at most once a minute, so busy clients don't write on every call.
  if (last_used_at === null || now - last_used_at > 60_000) {
    await db.updateTable('api_tokens').set({ last_used_at: now }).where('id', '=', token_id).execute();
  }
  return user;
}

export async function createApiToken(
  db: Kysely<Database>,
  input: { userId: string; name: string; now: number },
) {
  const token = newToken('dft');
  const id = newId();
  await db
    .insertInto('api_tokens')
    .values({
      id,
      user_id: input.userId,
      name: input.name,
      token_hash: hashToken(token),
      token_prefix: token.slice(0, 10),
      last_used_at: null,
      revoked_at: null,
      created_at: input.now,
    })
    .execute();
  return { id, token };
}

export async function listApiTokens(db: Kysely<Database>, userId: string) {
  return db
    .selectFrom('api_tokens')
    .select(['id', 'name', 'token_prefix', 'last_used_at', 'revoked_at', 'created_at'])
    .where('user_id', '=', userId)
    .orderBy('id', 'desc')
    .execute();
}

export async function revokeApiToken(
  db: Kysely<Database>,
  input: { userId: string; id: string; now: number },
) {
  const result = await db
    .updateTable('api_tokens')
    .set({ revoked_at: input.now })
    .where('id', '=', input.id)
    .where('user_id', '=', input.userId)
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  if (affectedRows(result) !== 1) throw new AppError('NOT_FOUND', 'Token not found');
}

/** Accounts for the operator view, newest first, optionally filtered by part of the email. */
export async function listUsers(
  db: Kysely<Database>,
  input: { cursor?: string | null; limit: number; search?: string },
): Promise<{ items: User[]; nextCursor: string | null }> {
  let query = db
    .selectFrom('users')
    .selectAll()
    .orderBy('id', 'desc')
    .limit(input.limit + 1);
  if (input.cursor) query = query.where('id', '<', input.cursor);
  if (input.search) {
    query = query.where('email', 'like', `%${input.search.toLowerCase().replace(/[%_\\]/g, '\\$&')}%`);
  }
  return toPage(await query.execute(), input.limit, (u) => u.id);
}
