import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TRPCError } from '@trpc/server';
import type { Kysely } from 'kysely';
import type { Database, User } from '../db/schema.ts';
import type { Context, InnerContext } from '../server/context.ts';
import { createInnerContext } from '../server/deps.ts';
import { type Env, parseEnv } from '../server/env.ts';
import { logger } from '../server/logger.ts';
import { appRouter } from '../server/routers/index.ts';
import type { Clock } from '../server/services/clock.ts';
import { appCodeOf as appCodeOfError, createCallerFactory } from '../server/trpc.ts';

/** A clock tests can move. */
export function testClock(start = Date.UTC(2026, 10, 28, 12)): Clock & { advance(ms: number): void } {
  let now = start;
  return {
    now: () => now,
    advance: (ms) => {
      now += ms;
    },
  };
}

export const testEnv = (overrides: Record<string, string> = {}): Env =>
  parseEnv({
    DATA_DIR: fs.mkdtempSync(path.join(os.tmpdir(), 'df-test-')),
    LOG_LEVEL: 'silent',
    ...overrides,
  });

/** An inner context on a test database: local storage in a temp DATA_DIR and the instant demo provider, unless overridden. */
export function testInner(
  db: Kysely<Database>,
  options: { env?: Record<string, string>; clock?: Clock } & Partial<
    Pick<InnerContext, 'storage' | 'providers' | 'events'>
  > = {},
): InnerContext {
  // Many tests sign up from one address: no sign-up cap unless a test sets one.
  const env = testEnv({
    DEMO_DELAY_MS: '0',
    APP_SECRET: 'test-secret-test-secret-test-secret',
    SIGNUPS_PER_IP_PER_HOUR: '0',
    ...options.env,
  });
  logger.setLevel(env.LOG_LEVEL);
  return createInnerContext(env, db, options.clock ?? testClock(), options);
}

export const createCaller = createCallerFactory(appRouter);

/** A cookie jar that records the session token a procedure set. */
export function recordingJar() {
  const jar = {
    token: null as string | null,
    setSession: (token: string) => {
      jar.token = token;
    },
    clearSession: () => {
      jar.token = null;
    },
  };
  return jar;
}

/** A caller as `user` (or anonymous); pass `{ cookies: recordingJar() }` to see cookies. */
export function callerFor(
  inner: InnerContext,
  user: User | null = null,
  extra: Partial<Context> = {},
  options: { signal?: AbortSignal } = {},
) {
  return createCaller(
    {
      ...inner,
      user,
      sessionToken: null,
      ip: '203.0.113.7',
      cookies: recordingJar(),
      ...extra,
    },
    options,
  );
}

export async function userById(db: Kysely<Database>, id: string): Promise<User> {
  return db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
}

/** Reads `data.appCode` of a rejected call. */
export async function appCodeOf(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof TRPCError) return appCodeOfError(error);
    const e = error as { shape?: { data?: { appCode?: string } }; data?: { appCode?: string } };
    return e.shape?.data?.appCode ?? e.data?.appCode;
  }
  throw new Error('expected the call to fail');
}
