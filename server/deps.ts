import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.ts';
import type { InnerContext } from './context.ts';
import { demoEnabled, type Env } from './env.ts';
import { bundledFfmpegPath } from './providers/demo-media.ts';
import { createProviderRegistry, type ProviderRegistry } from './providers/registry.ts';
import type { Clock } from './services/clock.ts';
import { JobEvents } from './services/jobs/events.ts';
import { JobRunner } from './services/jobs/runner.ts';
import { LocalStorage } from './storage/local.ts';
import { OssStorage } from './storage/oss.ts';
import type { Storage } from './storage/storage.ts';
import { Thumbnailer } from './storage/thumbnails.ts';

/** APP_SECRET, or a random one kept under DATA_DIR so signed local URLs survive restarts. */
export function appSecret(env: Env): string {
  if (env.APP_SECRET) return env.APP_SECRET;
  const file = path.join(env.DATA_DIR, 'app-secret');
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch {
    fs.mkdirSync(env.DATA_DIR, { recursive: true });
    const secret = randomBytes(32).toString('base64url');
    fs.writeFileSync(file, secret, { mode: 0o600, flag: 'wx' });
    return secret;
  }
}

/** OSS when its variables are set, else local disk under DATA_DIR/objects. */
export function createStorage(env: Env): Storage {
  if (env.OSS_BUCKET && env.OSS_ACCESS_KEY_ID && env.OSS_ACCESS_KEY_SECRET) {
    return new OssStorage({
      bucket: env.OSS_BUCKET,
      region: env.OSS_REGION ?? 'oss-cn-hangzhou',
      endpoint: env.OSS_ENDPOINT,
      cname: env.OSS_CNAME,
      accessKeyId: env.OSS_ACCESS_KEY_ID,
      accessKeySecret: env.OSS_ACCESS_KEY_SECRET,
      prefix: env.OSS_PREFIX,
      publicBaseUrl: env.OSS_PUBLIC_BASE_URL,
      urlTtlSeconds: env.OSS_URL_TTL_SECONDS,
    });
  }
  return new LocalStorage({
    root: path.join(env.DATA_DIR, 'objects'),
    publicPath: '/files',
    secret: appSecret(env),
    urlTtlSeconds: env.OSS_URL_TTL_SECONDS,
    thumbnailer: new Thumbnailer(bundledFfmpegPath()),
  });
}

export function createProviders(env: Env): ProviderRegistry {
  return createProviderRegistry({
    demo: { enabled: demoEnabled(env), delayMs: env.DEMO_DELAY_MS },
    // A 429 is waited out by the runner in the database (holding no worker), not retried in the call.
    dashscope: env.DASHSCOPE_API_KEY
      ? {
          apiKey: env.DASHSCOPE_API_KEY,
          baseUrl: env.DASHSCOPE_BASE_URL,
          submitsPerSecond: env.DASHSCOPE_SUBMITS_PER_SECOND,
          queriesPerSecond: env.DASHSCOPE_QUERIES_PER_SECOND,
          retryRateLimited: false,
        }
      : undefined,
    openai: env.OPENAI_API_KEY
      ? {
          apiKey: env.OPENAI_API_KEY,
          baseUrl: env.OPENAI_BASE_URL,
          imagesPerMinute: env.OPENAI_IMAGES_PER_MINUTE || undefined,
          retryRateLimited: false,
        }
      : undefined,
  });
}

export function createInnerContext(
  env: Env,
  db: Kysely<Database>,
  clock: Clock,
  overrides: Partial<Pick<InnerContext, 'storage' | 'providers' | 'events'>> = {},
): InnerContext {
  return {
    db,
    config: env,
    clock,
    storage: overrides.storage ?? createStorage(env),
    providers: overrides.providers ?? createProviders(env),
    events: overrides.events ?? new JobEvents({ db }),
  };
}

/** The job runner for this process, configured from env. */
export function createRunner(env: Env, inner: InnerContext, options: { owner?: string } = {}): JobRunner {
  return new JobRunner(inner, {
    concurrency: env.WORKER_CONCURRENCY,
    prefix: env.OSS_PREFIX,
    tmpDir: path.join(env.DATA_DIR, 'tmp'),
    allowPrivateNetwork: env.ALLOW_PRIVATE_NETWORK_FETCH,
    leaseMs: env.JOB_LEASE_MS,
    userMaxActiveJobs: env.USER_MAX_ACTIVE_JOBS,
    owner: options.owner,
  });
}
