import type { Request, Response } from 'express';
import type { Kysely } from 'kysely';
import type { Database, User } from '../db/schema.ts';
import type { Env } from './env.ts';
import { currentRequest } from './observability/request-context.ts';
import type { ProviderRegistry } from './providers/registry.ts';
import { userFromApiToken, userFromSession } from './services/auth.ts';
import type { Clock } from './services/clock.ts';
import type { JobEvents } from './services/jobs/events.ts';
import type { Storage } from './storage/storage.ts';

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
}

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
): Promise<Context> {
  const now = inner.clock.now();
  const secure = req.secure || req.headers['x-forwarded-proto'] === 'https';
  const sessionToken = readCookie(req.headers.cookie, SESSION_COOKIE);
  const bearer = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '')?.[1] ?? null;
  let user: User | null = null;
  if (bearer) user = await userFromApiToken(inner.db, bearer, now);
  else if (sessionToken) user = await userFromSession(inner.db, sessionToken, now);
  const scope = currentRequest();
  if (scope && user) scope.userId = user.id;
  return {
    ...inner,
    user,
    sessionToken,
    ip: req.ip ?? null,
    cookies: {
      setSession: (token, expiresAt) =>
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
  };
}
