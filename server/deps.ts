import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.ts';
import type { InnerContext } from './context.ts';
import { demoEnabled, type Env, EnvError } from './env.ts';
import { logger } from './logger.ts';
import { bundledFfmpegPath } from './providers/demo-media.ts';
import { createProviderRegistry, type ProviderRegistry } from './providers/registry.ts';
import type { Clock } from './services/clock.ts';
import { JobEvents } from './services/jobs/events.ts';
import { JobRunner } from './services/jobs/runner.ts';
import { LocalStorage } from './storage/local.ts';
import { OssStorage } from './storage/oss.ts';
import { EcsRamRoleCredentials } from './storage/oss-credentials.ts';
import type { Storage } from './storage/storage.ts';
import { Thumbnailer } from './storage/thumbnails.ts';

/** The HMAC key length we accept: 32 bytes, the size of SHA-256's output. */
export const MIN_SECRET_BYTES = 32;

/**
 * Creates DATA_DIR readable by this user only (0700); an existing one is tightened where we may, never a
 * reason to refuse the start (it may be a mount we do not own).
 */
export function ensureDataDir(dir: string): void {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  // The staging folder for downloads, and local storage's objects: junk in their place stops the start
  // here, in one line naming DATA_DIR, instead of a stack trace from the runner or failed uploads later.
  fs.mkdirSync(path.join(dir, 'tmp'), { recursive: true, mode: 0o700 });
  const objects = path.join(dir, 'objects');
  if (fs.existsSync(objects) && !fs.statSync(objects).isDirectory())
    throw new Error(`${objects} is not a folder (local storage keeps its objects there)`);
  try {
    if ((fs.statSync(dir).mode & 0o077) !== 0) fs.chmodSync(dir, 0o700);
  } catch (error) {
    logger.warn('could not restrict DATA_DIR to its owner', { dir, error });
  }
}

/**
 * APP_SECRET, or a random one kept under DATA_DIR (0600) so signed local URLs survive restarts. A secret
 * shorter than 32 bytes (an empty or truncated file) is refused: an empty HMAC key signs nothing.
 */
export function appSecret(env: Env): string {
  if (env.APP_SECRET) return env.APP_SECRET;
  const file = path.join(env.DATA_DIR, 'app-secret');
  let secret: string;
  try {
    secret = fs.readFileSync(file, 'utf8').trim();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    ensureDataDir(env.DATA_DIR);
    secret = randomBytes(32).toString('base64url');
    fs.writeFileSync(file, secret, { mode: 0o600, flag: 'wx' });
  }
  if (Buffer.byteLength(secret) < MIN_SECRET_BYTES) {
    throw new EnvError(
      `Invalid configuration:\n  APP_SECRET: ${file} holds a secret shorter than ${MIN_SECRET_BYTES} bytes; delete the file to have a new one generated, or set APP_SECRET`,
    );
  }
  try {
    if ((fs.statSync(file).mode & 0o077) !== 0) fs.chmodSync(file, 0o600);
  } catch {
    // Not ours to change (a mounted secret); it still works.
  }
  return secret;
}

/** OSS when OSS_BUCKET is set (parseEnv has checked the credentials), else local disk under DATA_DIR/objects. */
export function createStorage(env: Env): Storage {
  if (env.OSS_BUCKET) {
    let credentials: EcsRamRoleCredentials | undefined;
    if (env.OSS_ECS_RAM_ROLE) {
      credentials = new EcsRamRoleCredentials({
        role: env.OSS_ECS_RAM_ROLE,
        metadataUrl: env.OSS_ECS_METADATA_URL,
      });
      // Fetched once now so the first read URL does not wait; uploads fetch again if this failed.
      credentials.refresh().catch((error: unknown) => {
        logger.error('oss: could not fetch the RAM role credentials', { role: env.OSS_ECS_RAM_ROLE, error });
      });
    }
    return new OssStorage({
      bucket: env.OSS_BUCKET,
      region: env.OSS_REGION ?? 'oss-cn-hangzhou',
      endpoint: env.OSS_ENDPOINT,
      cname: env.OSS_CNAME,
      internalEndpoint: env.OSS_INTERNAL_ENDPOINT,
      signatureVersion: env.OSS_SIGNATURE_VERSION,
      credentials,
      accessKeyId: env.OSS_ACCESS_KEY_ID,
      accessKeySecret: env.OSS_ACCESS_KEY_SECRET,
      securityToken: env.OSS_SECURITY_TOKEN,
      prefix: env.OSS_PREFIX,
      publicBaseUrl: env.OSS_PUBLIC_BASE_URL,
      urlTtlSeconds: env.OSS_URL_TTL_SECONDS,
    });
  }
  return new LocalStorage({
    root: path.join(env.DATA_DIR, 'objects'),
    publicPath: '/files',
    baseUrl: env.PUBLIC_URL,
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
