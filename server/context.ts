import { isIP } from 'node:net';
import type { Request, Response } from 'express';
import type { Kysely } from 'kysely';
import type { Database, User } from '../db/schema.ts';
import { extended } from '../shared/objects.ts';
import type { Env } from './env.ts';
import { requestScopeOf } from './observability/request-context.ts';
import type { ProviderRegistry } from './providers/registry.ts';
import { type AuthVia, effectiveRole, userFromApiToken, userFromSession } from './services/auth.ts';
import type { Clock } from './services/clock.ts';
import type { JobEvents } from './services/jobs/events.ts';
import type { Storage } from './storage/storage.ts';
import { unavailableErrorOf } from './unavailable.ts';

export const SESSION_COOKIE = 'df_session';

/** Inner context: what procedures need, built directly by tests (no request). */
export interface InnerContext {
  db: Kysely<Database>;
  config: Env;
  clock: Clock;
  storage: Storage;
  providers: ProviderRegistry;
  events: JobEvents;
}

/** How a procedure sets or clears the session cookie; tests pass a recording jar. */
export interface CookieJar {
  setSession(token: string, expiresAt: number): void;
  clearSession(): void;
}

/** Outer context: the inner one plus the caller. */
export interface Context extends InnerContext {
  user: User | null;
  sessionToken: string | null;
  ip: string | null;
  cookies: CookieJar;
  /** A Bearer token was sent but matched no live API token. */
  bearerRejected?: boolean;
  /** Why the Bearer token was refused, for the client (TOKEN_EXPIRED or TOKEN_UNKNOWN). */
  bearerRejectedReason?: 'TOKEN_EXPIRED' | 'TOKEN_UNKNOWN';
  /** How the user authenticated; absent means a session (tests' callers). */
  auth?: AuthVia;
  /** Calls in this HTTP request (a tRPC batch); rate-limited mutations refuse to share one. */
  batchSize?: number;
  /** The HTTP request's id (`x-request-id`), for the log lines logged while serving it. */
  requestId?: string;
}

/** Users made by withEffectiveRole: their role is the one this request acts with. */
const effective = new WeakSet<User>();

/** The user with the role this request acts with (ADMIN_EMAILS, the stored grant, the token's scope). */
export function withEffectiveRole(user: User, config: Env, via?: AuthVia): User {
  const resolved = {
    ...user,
    role: effectiveRole(user, { adminEmails: config.ADMIN_EMAILS, requireVerified: !!config.SMTP_URL }, via),
  };
  effective.add(resolved);
  return resolved;
}

/** Whether `user` came from withEffectiveRole (a request's context), not straight from a row. */
export const hasEffectiveRole = (user: User): boolean => effective.has(user);

export function readCookie(header: string | undefined, name: string): string | null {
  if (!header) return null;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) {
      try {
        return decodeURIComponent(part.slice(eq + 1).trim());
      } catch {
        return null;
      }
    }
  }
  return null;
}

/** Builds the outer context from an HTTP request: session cookie or `Authorization: Bearer <api token>`. */
export async function createRequestContext(
  inner: InnerContext,
  req: Request,
  res: Response,
  info?: { calls: unknown[] },
): Promise<Context> {
  const now = inner.clock.now();
  const secure = req.secure || req.headers['x-forwarded-proto'] === 'https';
  const cookieToken = readCookie(req.headers.cookie, SESSION_COOKIE);
  const bearer = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '')?.[1] ?? null;
  let user: User | null = null;
  let auth: AuthVia | undefined;
  let bearerRejectedReason: Context['bearerRejectedReason'];
  try {
    if (bearer) {
      const found = await userFromApiToken(inner.db, bearer, now);
      if (found.ok) {
        auth = { kind: 'token', tokenId: found.tokenId, scope: found.scope };
        user = found.user;
      } else bearerRejectedReason = found.reason;
    } else if (cookieToken) {
      user = await userFromSession(inner.db, cookieToken, now);
      auth = { kind: 'session' };
    }
  } catch (error) {
    // The caller cannot be known while the database does not answer: a 503 to retry, not a 500.
    throw unavailableErrorOf(error, 'request', { requestId: requestScopeOf(req)?.requestId }) ?? error;
  }
  // With a Bearer token the cookie is not this request's session (sign-out must not end it).
  const sessionToken = bearer ? null : cookieToken;
  const scope = requestScopeOf(req);
  if (scope && user) scope.userId = user.id;
  return extended(inner, {
    requestId: scope?.requestId,
    user: user ? withEffectiveRole(user, inner.config, auth) : null,
    auth,
    batchSize: info?.calls.length ?? 1,
    bearerRejectedReason,
    sessionToken,
    ip: clientIp(req),
    cookies: {
      setSession: (token: string, expiresAt: number) =>
        res.cookie(SESSION_COOKIE, token, {
          httpOnly: true,
          sameSite: 'lax',
          secure,
          path: '/',
          expires: new Date(expiresAt),
        }),
      clearSession: () =>
        res.clearCookie(SESSION_COOKIE, { httpOnly: true, sameSite: 'lax', secure, path: '/' }),
    },
    bearerRejected: bearer !== null && user === null,
  });
}

/**
 * The client's address: express's `req.ip` (from `X-Forwarded-For` when TRUST_PROXY trusts the hop),
 * when it is an address; a forwarded value that is not one (`<script>`, 300 x's) is never taken as the
 * client, whose rate limits and audit rows would then carry it: the peer's own address stands instead.
 */
export function clientIp(req: { ip?: string; socket: { remoteAddress?: string } }): string | null {
  if (req.ip && isIP(req.ip)) return req.ip;
  return req.socket.remoteAddress ?? null;
}
