import { createHash, randomBytes, scrypt as scryptCb, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';
import type { Kysely } from 'kysely';
import { affectedRows, isUniqueViolation } from '../../db/dialect.ts';
import { toPage } from '../../db/paging.ts';
import { prepared } from '../../db/prepared.ts';
import type { Database, User } from '../../db/schema.ts';
import { type Executor, inTransaction } from '../../db/transaction.ts';
import { AppError } from '../../shared/errors.ts';
import { MAX_API_TOKENS_PER_USER } from '../../shared/limits.ts';
import { logger } from '../logger.ts';
import { audit } from './audit.ts';
import { moveCredits } from './billing.ts';
import { isCommonPassword } from './common-passwords.ts';
import { newId, newToken } from './ids.ts';
import type { Mailer } from './mail.ts';
import { type BucketLimit, ipKey, type Reservation, reserveAttempt } from './rate-limit.ts';
import { Semaphore } from './semaphore.ts';

const scrypt = promisify(scryptCb) as (
  pw: string,
  salt: Buffer,
  len: number,
  opts: object,
) => Promise<Buffer>;
const SCRYPT = { N: 16384, r: 8, p: 1, maxmem: 64 * 1024 * 1024 };
export const SESSION_TTL_MS = 30 * 24 * 3600 * 1000;
/** A session unused this long is over, whatever its absolute expiry. */
export const SESSION_IDLE_MS = 14 * 24 * 3600 * 1000;
const MINUTE = 60_000;
/**
 * Sign-in failures allowed per (account, IP) before RATE_LIMITED, with a back-off: 10 in 15 minutes,
 * then 20 in the hour, then 50 in the day. Keyed by the pair, so a stranger guessing from elsewhere
 * never locks the owner out.
 */
export const SIGN_IN_LIMIT = [
  { limit: 10, windowMs: 15 * MINUTE },
  { limit: 20, windowMs: 60 * MINUTE },
  { limit: 50, windowMs: 24 * 60 * MINUTE },
];
/** Per IP over all accounts the limit is higher: many honest users can share one address (NAT, an office). */
export const SIGN_IN_IP_LIMIT = [{ limit: 100, windowMs: 15 * MINUTE }];
/** Reset and verification emails per address and per IP in an hour: no mail bombing through us. */
export const MAIL_LIMIT = [{ limit: 5, windowMs: 60 * MINUTE }];
export const RESET_TTL_MS = 30 * MINUTE;
export const VERIFY_TTL_MS = 7 * 24 * 60 * MINUTE;

/**
 * Hashes at once: scrypt runs on libuv's thread pool (4 threads, shared with file reads), so a flood of
 * sign-ins may take two of them and a short line, and is refused beyond that. One client address (an
 * IPv6 /64) holding four places gets more only while half the line is free, so one client cannot fill
 * the line and have everyone else refused.
 */
const hashSlots = new Semaphore(2, 32, 4);

/** A password hash; `ip`, the client's address, is held to its share of the hashing places. */
export async function hashPassword(password: string, ip: string | null = null): Promise<string> {
  return hashSlots.run(ipKey(ip), async () => {
    const salt = randomBytes(16);
    const key = await scrypt(password, salt, 64, SCRYPT);
    return `scrypt$${SCRYPT.N}$${SCRYPT.r}$${SCRYPT.p}$${salt.toString('base64')}$${key.toString('base64')}`;
  });
}

export async function verifyPassword(
  password: string,
  stored: string,
  ip: string | null = null,
): Promise<boolean> {
  const [scheme, n, r, p, salt, key] = stored.split('$');
  if (scheme !== 'scrypt' || !salt || !key) return false;
  const expected = Buffer.from(key, 'base64');
  const actual = await hashSlots.run(ipKey(ip), () =>
    scrypt(password, Buffer.from(salt, 'base64'), expected.length, {
      N: Number(n),
      r: Number(r),
      p: Number(p),
      maxmem: SCRYPT.maxmem,
    }),
  );
  return timingSafeEqual(actual, expected);
}

/** Tokens are stored only as their SHA-256. */
export const hashToken = (token: string): string => createHash('sha256').update(token).digest('hex');
/** Rate-limit bucket names stay short whatever the email's length. */
const short = (value: string): string => createHash('sha256').update(value).digest('hex').slice(0, 32);

export interface AuthConfig {
  adminEmails: string[];
  signupBonusCredits: number;
  /** 0 = unlimited. */
  signupsPerIpPerHour: number;
  mailer: Mailer;
  /** Origin the links in emails point at (PUBLIC_URL, or the local address without SMTP). */
  linkBase: string;
}

/** How the caller authenticated: the browser's session, or an API token with its scope. */
export type AuthVia = { kind: 'session' } | { kind: 'token'; tokenId: string; scope: 'user' | 'admin' };

export interface RoleConfig {
  adminEmails: string[];
  /** With SMTP, a listed address is admin only once verified (anyone can sign up with any address). */
  requireVerified: boolean;
}

/**
 * The role a request acts with, computed at each request: the stored grant (`npm run admin -- grant`)
 * or the address listed in ADMIN_EMAILS (and verified when SMTP is set). The list part is never stored,
 * so an address removed from it loses admin on its next request. An API token acts as admin only when
 * it was created with the admin scope.
 */
export function effectiveRole(user: User, config: RoleConfig, via: AuthVia = { kind: 'session' }) {
  const listed =
    config.adminEmails.includes(user.email.trim().toLowerCase()) &&
    (!config.requireVerified || user.email_verified_at !== null);
  const admin = listed || user.role === 'admin';
  if (via.kind === 'token' && via.scope !== 'admin') return 'user' as const;
  return admin ? ('admin' as const) : ('user' as const);
}

function checkNewPassword(password: string, email: string, field = 'password') {
  if (isCommonPassword(password, email)) {
    throw new AppError('VALIDATION', 'This password is too common; choose a less guessable one', {
      reason: 'PASSWORD_TOO_COMMON',
      fields: [field],
    });
  }
}

const emailTaken = () =>
  new AppError('VALIDATION', 'An account with this email already exists', {
    reason: 'EMAIL_TAKEN',
    fields: ['email'],
  });

/**
 * Creates the account, grants the sign-up bonus (now without SMTP; on verification with SMTP) and opens
 * a session, in one transaction. The cheap refusals come first (taken email, sign-ups from this IP),
 * then the hash.
 */
export async function signUp(
  db: Kysely<Database>,
  config: AuthConfig,
  input: { email: string; password: string; ip: string | null; requestId?: string; now: number },
): Promise<{ user: User; sessionToken: string; expiresAt: number }> {
  checkNewPassword(input.password, input.email);
  const existing = await db
    .selectFrom('users')
    .select('id')
    .where('email', '=', input.email)
    .executeTakeFirst();
  if (existing) {
    // "Taken" tells whether an account exists: such answers get a budget of their own per IP (four
    // times the sign-ups'), so addresses cannot be tried by the thousand. A taken email does not count
    // against the sign-ups themselves (one person retrying their own address behind a shared NAT).
    if (config.signupsPerIpPerHour > 0 && input.ip) {
      await reserveAttempt(
        db,
        [
          {
            bucket: `signup-taken:ip:${ipKey(input.ip)}`,
            tiers: [{ limit: 4 * config.signupsPerIpPerHour, windowMs: 60 * MINUTE }],
          },
        ],
        input.now,
        { reason: 'SIGNUP_LIMIT', message: 'Too many sign-ups from this network; try again later' },
        { settled: true },
      );
    }
    throw emailTaken();
  }
  hashSlots.assertRoom(ipKey(input.ip));
  const reservation: Reservation | null =
    config.signupsPerIpPerHour > 0 && input.ip
      ? await reserveAttempt(
          db,
          [
            {
              bucket: `signup:ip:${ipKey(input.ip)}`,
              tiers: [{ limit: config.signupsPerIpPerHour, windowMs: 60 * MINUTE }],
            },
          ],
          input.now,
          { reason: 'SIGNUP_LIMIT', message: 'Too many sign-ups from this network; try again later' },
        )
      : null;
  const verifyToken = newToken('dfv');
  let result: { user: User; sessionToken: string; expiresAt: number };
  try {
    const passwordHash = await hashPassword(input.password, input.ip);
    const userId = newId();
    result = await inTransaction(db, async (trx) => {
      await trx
        .insertInto('users')
        .values({
          id: userId,
          email: input.email,
          password_hash: passwordHash,
          role: 'user',
          credit_balance: 0,
          created_at: input.now,
          email_verified_at: null,
        })
        .execute();
      if (!config.mailer.configured) await grantSignupBonus(trx, config, userId, input.now);
      await insertAccountToken(trx, { userId, purpose: 'verify', token: verifyToken, now: input.now });
      const session = await createSession(trx, userId, input.now);
      await audit(trx, {
        action: 'signup',
        actorUserId: userId,
        subject: input.email,
        ip: input.ip,
        requestId: input.requestId,
        now: input.now,
      });
      const user = await trx
        .selectFrom('users')
        .selectAll()
        .where('id', '=', userId)
        .executeTakeFirstOrThrow();
      return { user, ...session };
    });
  } catch (error) {
    // Only sign-ups made count against the IP.
    await reservation?.release();
    if (isUniqueViolation(error)) throw emailTaken();
    throw error;
  }
  await reservation?.keep();
  await sendVerification(config, input.email, verifyToken, input.requestId);
  return result;
}

/** The bonus, once per account: a signup_bonus ledger row is the proof it was given. */
async function grantSignupBonus(trx: Executor, config: AuthConfig, userId: string, now: number) {
  if (config.signupBonusCredits <= 0) return;
  const given = await trx
    .selectFrom('credit_ledger')
    .select('id')
    .where('user_id', '=', userId)
    .where('kind', '=', 'signup_bonus')
    .executeTakeFirst();
  if (given) return;
  await moveCredits(trx, {
    userId,
    amount: config.signupBonusCredits,
    kind: 'signup_bonus',
    note: 'Welcome bonus',
    now,
  });
}

async function insertAccountToken(
  trx: Executor,
  input: { userId: string; purpose: 'verify' | 'reset'; token: string; now: number },
) {
  await trx
    .insertInto('account_tokens')
    .values({
      id: newId(),
      user_id: input.userId,
      purpose: input.purpose,
      token_hash: hashToken(input.token),
      expires_at: input.now + (input.purpose === 'reset' ? RESET_TTL_MS : VERIFY_TTL_MS),
      used_at: null,
      created_at: input.now,
    })
    .execute();
}

async function sendVerification(
  config: AuthConfig,
  email: string,
  token: string,
  requestId: string | undefined,
) {
  const link = `${config.linkBase}/verify-email?token=${encodeURIComponent(token)}`;
  try {
    await config.mailer.send({
      requestId,
      to: email,
      subject: 'Confirm your email for Dream Factory / 确认你的梦工厂邮箱',
      text: `Open this link to confirm your email address${config.signupBonusCredits > 0 && config.mailer.configured ? ' and receive your welcome credits' : ''}:\n\n${link}\n\n打开上面的链接确认你的邮箱。\n\nIf you did not sign up, ignore this email.`,
    });
  } catch (error) {
    // The account exists; the user can ask for another email from the app.
    logger.warn('verification email failed', { requestId, error });
  }
}

export async function signIn(
  db: Kysely<Database>,
  input: { email: string; password: string; ip: string | null; requestId?: string; now: number },
): Promise<{ user: User; sessionToken: string; expiresAt: number }> {
  // A full line of hashes refuses at once, before writing anything.
  hashSlots.assertRoom(ipKey(input.ip));
  const reservation = await reserveAttempt(db, signInBuckets(input.email, input.ip), input.now);
  const user = await db.selectFrom('users').selectAll().where('email', '=', input.email).executeTakeFirst();
  let ok: boolean;
  try {
    ok = user
      ? await verifyPassword(input.password, user.password_hash, input.ip)
      : await hashPassword(input.password, input.ip).then(() => false);
  } catch (error) {
    // No password was checked (BUSY): the attempt does not count.
    await reservation.release();
    throw error;
  }
  if (!user || !ok) {
    // The reservation stays: it is this failure's record.
    await reservation.keep();
    await audit(db, {
      action: 'signin.failed',
      actorUserId: user?.id,
      subject: input.email,
      ip: input.ip,
      requestId: input.requestId,
      now: input.now,
    });
    throw new AppError('UNAUTHENTICATED', 'Wrong email or password', { reason: 'WRONG_CREDENTIALS' });
  }
  await reservation.release();
  const session = await createSession(db, user.id, input.now);
  await audit(db, {
    action: 'signin.ok',
    actorUserId: user.id,
    subject: user.email,
    ip: input.ip,
    requestId: input.requestId,
    now: input.now,
  });
  return { user, ...session };
}

function signInBuckets(email: string, ip: string | null): BucketLimit[] {
  return [
    { bucket: `signin:acct-ip:${short(`${email}\n${ipKey(ip) ?? ''}`)}`, tiers: SIGN_IN_LIMIT },
    ...(ip ? [{ bucket: `signin:ip:${ipKey(ip)}`, tiers: SIGN_IN_IP_LIMIT }] : []),
  ];
}

async function createSession(db: Executor, userId: string, now: number) {
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
      last_seen_at: now,
    })
    .execute();
  if (Math.random() < 0.05) await purgeSessions(db, now);
  return { sessionToken, expiresAt };
}

/** Deletes sessions past their expiry or idle too long; returns how many. */
export async function purgeSessions(db: Executor, now: number): Promise<number> {
  const result = await db
    .deleteFrom('sessions')
    .where((eb) => eb.or([eb('expires_at', '<=', now), eb('last_seen_at', '<=', now - SESSION_IDLE_MS)]))
    .executeTakeFirst();
  return affectedRows(result);
}

export async function signOut(db: Kysely<Database>, sessionToken: string): Promise<void> {
  await db.deleteFrom('sessions').where('token_hash', '=', hashToken(sessionToken)).execute();
}

/** Ends every session of the user (all browsers); API tokens are managed on their own page. */
export async function signOutEverywhere(
  db: Kysely<Database>,
  input: { userId: string; ip: string | null; requestId?: string; now: number },
): Promise<void> {
  await db.deleteFrom('sessions').where('user_id', '=', input.userId).execute();
  await audit(db, {
    action: 'sessions.revoked',
    actorUserId: input.userId,
    ip: input.ip,
    requestId: input.requestId,
    now: input.now,
  });
}

/** A write that only records use (last seen, last used): a refused one (a full disk) must not refuse the request. */
const recordUse = (write: Promise<unknown>, what: string): Promise<unknown> =>
  write.catch((error: unknown) => logger.warn(`could not record ${what}`, { error }));

/** The user of a live session, and the session's id and last use: every signed-in request's first read. */
const sessionUser = prepared((db, p: { tokenHash: string; now: number; seenAfter: number }) =>
  db
    .selectFrom('sessions')
    .innerJoin('users', 'users.id', 'sessions.user_id')
    .selectAll('users')
    .select(['sessions.id as session_id', 'sessions.last_seen_at'])
    .where('sessions.token_hash', '=', p.tokenHash)
    .where('sessions.expires_at', '>', p.now)
    .where('sessions.last_seen_at', '>', p.seenAfter),
);

export async function userFromSession(
  db: Kysely<Database>,
  sessionToken: string,
  now: number,
): Promise<User | null> {
  const [row] = await sessionUser(db, {
    tokenHash: hashToken(sessionToken),
    now,
    seenAfter: now - SESSION_IDLE_MS,
  });
  if (!row) return null;
  const { session_id, last_seen_at, ...user } = row;
  // Touch at most once a minute, so a busy tab doesn't write on every call.
  if (last_seen_at === null || now - last_seen_at > MINUTE) {
    await recordUse(
      db.updateTable('sessions').set({ last_seen_at: now }).where('id', '=', session_id).execute(),
      'a session as seen',
    );
  }
  return user;
}

export type ApiTokenAuth =
  | { ok: true; user: User; tokenId: string; scope: 'user' | 'admin' }
  | { ok: false; reason: 'TOKEN_EXPIRED' | 'TOKEN_UNKNOWN' };

export async function userFromApiToken(
  db: Kysely<Database>,
  token: string,
  now: number,
): Promise<ApiTokenAuth> {
  const row = await db
    .selectFrom('api_tokens')
    .innerJoin('users', 'users.id', 'api_tokens.user_id')
    .selectAll('users')
    .select([
      'api_tokens.id as token_id',
      'api_tokens.last_used_at',
      'api_tokens.expires_at as token_expires_at',
      'api_tokens.scope as token_scope',
    ])
    .where('api_tokens.token_hash', '=', hashToken(token))
    .where('api_tokens.revoked_at', 'is', null)
    .executeTakeFirst();
  if (!row) return { ok: false, reason: 'TOKEN_UNKNOWN' };
  const { token_id, last_used_at, token_expires_at, token_scope, ...user } = row;
  if (token_expires_at !== null && token_expires_at <= now) return { ok: false, reason: 'TOKEN_EXPIRED' };
  // Touch at most once a minute, so busy clients don't write on every call.
  if (last_used_at === null || now - last_used_at > MINUTE) {
    await recordUse(
      db.updateTable('api_tokens').set({ last_used_at: now }).where('id', '=', token_id).execute(),
      'an API token as used',
    );
  }
  return { ok: true, user, tokenId: token_id, scope: token_scope === 'admin' ? 'admin' : 'user' };
}

/** Verifies the email with a link's token; grants the sign-up bonus if it was waiting for this. */
export async function verifyEmail(
  db: Kysely<Database>,
  config: AuthConfig,
  input: { token: string; requestId?: string; now: number },
): Promise<User> {
  return inTransaction(db, async (trx) => {
    const userId = await useAccountToken(trx, 'verify', input.token, input.now, 'VERIFY_LINK_INVALID');
    await markVerified(trx, config, userId, input.now, input.requestId);
    return trx.selectFrom('users').selectAll().where('id', '=', userId).executeTakeFirstOrThrow();
  });
}

/** Marks the address verified once (a guarded update) and gives the bonus if it is still due. */
async function markVerified(
  trx: Executor,
  config: AuthConfig,
  userId: string,
  now: number,
  requestId: string | undefined,
) {
  const updated = await trx
    .updateTable('users')
    .set({ email_verified_at: now })
    .where('id', '=', userId)
    .where('email_verified_at', 'is', null)
    .executeTakeFirst();
  if (affectedRows(updated) !== 1) return;
  await grantSignupBonus(trx, config, userId, now);
  const user = await trx
    .selectFrom('users')
    .select('email')
    .where('id', '=', userId)
    .executeTakeFirstOrThrow();
  await audit(trx, { action: 'email.verified', actorUserId: userId, subject: user.email, now, requestId });
}

/** Spends a single-use link token: the guard is the WHERE clause and the affected-row count. */
async function useAccountToken(
  trx: Executor,
  purpose: 'verify' | 'reset',
  token: string,
  now: number,
  reason: string,
): Promise<string> {
  const row = await trx
    .selectFrom('account_tokens')
    .select(['id', 'user_id'])
    .where('token_hash', '=', hashToken(token))
    .where('purpose', '=', purpose)
    .executeTakeFirst();
  const spent = row
    ? await trx
        .updateTable('account_tokens')
        .set({ used_at: now })
        .where('id', '=', row.id)
        .where('used_at', 'is', null)
        .where('expires_at', '>', now)
        .executeTakeFirst()
    : null;
  if (!row || !spent || affectedRows(spent) !== 1) {
    throw new AppError('VALIDATION', 'This link is invalid, used or expired; ask for a new one', {
      reason,
      fields: ['token'],
    });
  }
  return row.user_id;
}

/** Sends a new verification email (limited per account); false when the address is verified already. */
export async function resendVerification(
  db: Kysely<Database>,
  config: AuthConfig,
  input: { userId: string; requestId?: string; now: number },
): Promise<boolean> {
  const user = await db
    .selectFrom('users')
    .selectAll()
    .where('id', '=', input.userId)
    .executeTakeFirstOrThrow();
  if (user.email_verified_at !== null) return false;
  await reserveAttempt(
    db,
    [{ bucket: `mail:user:${user.id}`, tiers: MAIL_LIMIT }],
    input.now,
    { reason: 'TOO_MANY_EMAILS', message: 'Too many emails sent; try again later' },
    { settled: true },
  );
  const token = newToken('dfv');
  await insertAccountToken(db, { userId: user.id, purpose: 'verify', token, now: input.now });
  await sendVerification(config, user.email, token, input.requestId);
  return true;
}

/**
 * Emails a reset link (single use, 30 minutes) when the account exists. The answer is the same either
 * way, so nobody learns which addresses have accounts; requests are limited per address and per IP.
 */
export async function requestPasswordReset(
  db: Kysely<Database>,
  config: AuthConfig,
  input: { email: string; ip: string | null; requestId?: string; now: number },
): Promise<void> {
  await reserveAttempt(
    db,
    [
      { bucket: `mail:reset:${short(input.email)}`, tiers: MAIL_LIMIT },
      ...(input.ip
        ? [{ bucket: `mail:ip:${ipKey(input.ip)}`, tiers: [{ limit: 20, windowMs: 60 * MINUTE }] }]
        : []),
    ],
    input.now,
    { reason: 'TOO_MANY_EMAILS', message: 'Too many emails sent; try again later' },
    { settled: true },
  );
  const user = await db
    .selectFrom('users')
    .select(['id', 'email'])
    .where('email', '=', input.email)
    .executeTakeFirst();
  if (!user) return;
  const token = newToken('dfr');
  await insertAccountToken(db, { userId: user.id, purpose: 'reset', token, now: input.now });
  const link = `${config.linkBase}/reset-password?token=${encodeURIComponent(token)}`;
  try {
    await config.mailer.send({
      requestId: input.requestId,
      to: user.email,
      subject: 'Reset your Dream Factory password / 重置梦工厂密码',
      text: `Open this link within 30 minutes to choose a new password:\n\n${link}\n\n请在 30 分钟内打开上面的链接设置新密码。\n\nIf you did not ask for this, ignore this email; your password stays as it is.`,
    });
  } catch (error) {
    logger.warn('password reset email failed', { requestId: input.requestId, error });
  }
}

/** Sets a new password from a reset link, ends every session and opens a new one. The link proves the address. */
export async function resetPassword(
  db: Kysely<Database>,
  config: AuthConfig,
  input: { token: string; password: string; ip: string | null; requestId?: string; now: number },
): Promise<{ user: User; sessionToken: string; expiresAt: number }> {
  // A link that cannot be used is refused before the hash: made-up tokens cost a read, not a scrypt.
  const owner = await db
    .selectFrom('account_tokens')
    .innerJoin('users', 'users.id', 'account_tokens.user_id')
    .select('users.email')
    .where('account_tokens.token_hash', '=', hashToken(input.token))
    .where('account_tokens.purpose', '=', 'reset')
    .where('account_tokens.used_at', 'is', null)
    .where('account_tokens.expires_at', '>', input.now)
    .executeTakeFirst();
  if (!owner) {
    throw new AppError('VALIDATION', 'This link is invalid, used or expired; ask for a new one', {
      reason: 'RESET_LINK_INVALID',
      fields: ['token'],
    });
  }
  checkNewPassword(input.password, owner.email);
  const passwordHash = await hashPassword(input.password, input.ip);
  return inTransaction(db, async (trx) => {
    const userId = await useAccountToken(trx, 'reset', input.token, input.now, 'RESET_LINK_INVALID');
    await trx.updateTable('users').set({ password_hash: passwordHash }).where('id', '=', userId).execute();
    await trx.deleteFrom('sessions').where('user_id', '=', userId).execute();
    await markVerified(trx, config, userId, input.now, input.requestId);
    const session = await createSession(trx, userId, input.now);
    const user = await trx.selectFrom('users').selectAll().where('id', '=', userId).executeTakeFirstOrThrow();
    await audit(trx, {
      action: 'password.reset',
      actorUserId: userId,
      subject: user.email,
      ip: input.ip,
      requestId: input.requestId,
      now: input.now,
    });
    return { user, ...session };
  });
}

/** Changes the password (the current one is checked and rate limited like a sign-in); other sessions end. */
export async function changePassword(
  db: Kysely<Database>,
  input: {
    userId: string;
    sessionToken: string;
    currentPassword: string;
    newPassword: string;
    ip: string | null;
    requestId?: string;
    now: number;
  },
): Promise<void> {
  const user = await db
    .selectFrom('users')
    .selectAll()
    .where('id', '=', input.userId)
    .executeTakeFirstOrThrow();
  checkNewPassword(input.newPassword, user.email, 'newPassword');
  const reservation = await reserveAttempt(db, signInBuckets(user.email, input.ip), input.now);
  if (!(await verifyPassword(input.currentPassword, user.password_hash, input.ip))) {
    await reservation.keep();
    throw new AppError('VALIDATION', 'The current password is not right', {
      reason: 'WRONG_PASSWORD',
      fields: ['currentPassword'],
    });
  }
  await reservation.release();
  const passwordHash = await hashPassword(input.newPassword, input.ip);
  await inTransaction(db, async (trx) => {
    await trx.updateTable('users').set({ password_hash: passwordHash }).where('id', '=', user.id).execute();
    await trx
      .deleteFrom('sessions')
      .where('user_id', '=', user.id)
      .where('token_hash', '!=', hashToken(input.sessionToken))
      .execute();
    await audit(trx, {
      action: 'password.changed',
      actorUserId: user.id,
      subject: user.email,
      ip: input.ip,
      requestId: input.requestId,
      now: input.now,
    });
  });
}

export async function createApiToken(
  db: Kysely<Database>,
  input: {
    userId: string;
    name: string;
    now: number;
    expiresAt?: number | null;
    scope?: 'user' | 'admin';
    ip?: string | null;
    requestId?: string;
  },
) {
  const token = newToken('dft');
  const id = newId();
  const scope = input.scope ?? 'user';
  await inTransaction(db, async (trx) => {
    // The account's row is locked first (a write of nothing: MySQL locks the row, SQLite takes its one
    // write lock), so concurrent creates count one after another and the cap holds however many race.
    await trx.updateTable('users').set({ id: input.userId }).where('id', '=', input.userId).execute();
    const { live } = await trx
      .selectFrom('api_tokens')
      .select((eb) => eb.fn.countAll<number>().as('live'))
      .where('user_id', '=', input.userId)
      .where('revoked_at', 'is', null)
      .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', input.now)]))
      .executeTakeFirstOrThrow();
    if (Number(live) >= MAX_API_TOKENS_PER_USER) {
      throw new AppError(
        'VALIDATION',
        `An account holds at most ${MAX_API_TOKENS_PER_USER} API tokens; revoke one to create another`,
        { reason: 'TOKEN_LIMIT', params: { max: MAX_API_TOKENS_PER_USER } },
      );
    }
    await trx
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
        expires_at: input.expiresAt ?? null,
        scope,
      })
      .execute();
    await audit(trx, {
      action: 'token.created',
      actorUserId: input.userId,
      subject: id,
      ip: input.ip,
      requestId: input.requestId,
      details: { kind: 'token', scope, expiresAt: input.expiresAt ? new Date(input.expiresAt) : null },
      now: input.now,
    });
  });
  return { id, token };
}

export async function listApiTokens(db: Kysely<Database>, userId: string) {
  return db
    .selectFrom('api_tokens')
    .select(['id', 'name', 'token_prefix', 'last_used_at', 'revoked_at', 'created_at', 'expires_at', 'scope'])
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

/** The operator's command: stores or removes the admin grant of an existing account. */
export async function setAdminGrant(
  db: Kysely<Database>,
  input: { email: string; grant: boolean; now: number },
): Promise<{ changed: boolean }> {
  const email = input.email.trim().toLowerCase();
  const user = await db
    .selectFrom('users')
    .select(['id', 'role'])
    .where('email', '=', email)
    .executeTakeFirst();
  if (!user) throw new AppError('NOT_FOUND', `No account with the email ${email}; sign up first`);
  const role = input.grant ? 'admin' : 'user';
  if (user.role === role) return { changed: false };
  await inTransaction(db, async (trx) => {
    await trx.updateTable('users').set({ role }).where('id', '=', user.id).execute();
    await audit(trx, {
      action: input.grant ? 'admin.granted' : 'admin.revoked',
      subject: email,
      details: { kind: 'cli' },
      now: input.now,
      requestId: undefined,
    });
  });
  return { changed: true };
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
