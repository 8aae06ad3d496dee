import path from 'node:path';
import { z } from 'zod';

const flag = z.enum(['true', 'false', '1', '0', 'yes', 'no', '']).optional();
const parseFlag = (v: string | undefined): boolean | undefined =>
  v === undefined || v === '' ? undefined : v === 'true' || v === '1' || v === 'yes';
const bool = (fallback: boolean) => flag.transform((v) => parseFlag(v) ?? fallback);
const optionalBool = flag.transform(parseFlag);

const optionalString = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim()));

const intIn = (fallback: number, min: number, max: number) =>
  z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v.trim() === '') return fallback;
      const n = Number(v);
      if (!Number.isInteger(n) || n < min || n > max) {
        ctx.addIssue({ code: 'custom', message: `must be an integer from ${min} to ${max}` });
        return z.NEVER;
      }
      return n;
    });

const databaseUrl = optionalString.superRefine((v, ctx) => {
  if (v === undefined) return;
  if (/^mysql:\/\/[^/]+\/[^/?]+/.test(v) || /^sqlite:.+/.test(v)) return;
  ctx.addIssue({ code: 'custom', message: 'must be mysql://user:pass@host:port/db or sqlite:PATH' });
});

const url = optionalString.superRefine((v, ctx) => {
  if (v !== undefined && !/^https?:\/\/[^\s]+$/.test(v))
    ctx.addIssue({ code: 'custom', message: 'must be an http(s) URL' });
});

/** Every variable of SPEC §3 (plus a few operational extras), parsed once. */
export const EnvSchema = z.object({
  PORT: intIn(3000, 0, 65535),
  HOST: z.string().default('127.0.0.1'),
  DATA_DIR: z.string().default('./data'),
  DATABASE_URL: databaseUrl,
  OSS_BUCKET: optionalString,
  OSS_REGION: optionalString,
  OSS_ACCESS_KEY_ID: optionalString,
  OSS_ACCESS_KEY_SECRET: optionalString,
  OSS_ENDPOINT: url,
  OSS_CNAME: bool(false),
  OSS_PREFIX: z
    .string()
    .default('outputs')
    .refine((v) => /^[A-Za-z0-9][A-Za-z0-9/_-]*$/.test(v) && !v.endsWith('/'), 'letters, digits, - _ /'),
  OSS_PUBLIC_BASE_URL: url,
  OSS_URL_TTL_SECONDS: intIn(3600, 60, 7 * 24 * 3600),
  DASHSCOPE_API_KEY: optionalString,
  DASHSCOPE_BASE_URL: url.transform((v) => v ?? 'https://dashscope.aliyuncs.com'),
  OPENAI_API_KEY: optionalString,
  OPENAI_BASE_URL: url.transform((v) => v ?? 'https://api.openai.com'),
  DEMO_PROVIDER: optionalBool,
  DEMO_DELAY_MS: intIn(1500, 0, 600_000),
  ADMIN_EMAILS: z
    .string()
    .optional()
    .transform((v) =>
      (v ?? '')
        .split(',')
        .map((e) => e.trim().toLowerCase())
        .filter(Boolean),
    ),
  SIGNUP_BONUS_CREDITS: intIn(100, 0, 1_000_000_000),
  ALLOW_PRIVATE_NETWORK_FETCH: bool(false),
  WORKER_CONCURRENCY: intIn(4, 1, 256),
  ROLE: z.enum(['all', 'api', 'worker']).default('all'),
  /** How long ai.generateImage waits for the result before answering with the running job. */
  IMAGE_WAIT_SECONDS: intIn(120, 1, 3600),
  /** How long a worker's claim on a job lasts without renewal (a dead worker's jobs resume after it). */
  JOB_LEASE_MS: intIn(30_000, 200, 3_600_000),
  /** One user's jobs in flight at providers at once; more wait their turn (not refused). */
  USER_MAX_ACTIVE_JOBS: intIn(10, 1, 10_000),
  /** Open jobs.watch streams per user in one process; beyond it RATE_LIMITED. */
  MAX_WATCHES_PER_USER: intIn(32, 1, 10_000),
  /** Open jobs.watch streams per client IP in one process; beyond it RATE_LIMITED. */
  MAX_WATCHES_PER_IP: intIn(256, 1, 100_000),
  /** The DashScope account's submit limit, shared by every worker process (some models allow fewer). */
  DASHSCOPE_SUBMITS_PER_SECOND: intIn(10, 1, 10_000),
  /** The DashScope account's task-query limit (documented: 20 per second per account). */
  DASHSCOPE_QUERIES_PER_SECOND: intIn(20, 1, 10_000),
  /** The OpenAI organisation's images per minute for the model tier; 0 = not paced (429s are waited out). */
  OPENAI_IMAGES_PER_MINUTE: intIn(0, 0, 1_000_000),
  /**
   * Express "trust proxy": set it when behind a reverse proxy (e.g. `loopback`, `1`, or a list of
   * addresses) so rate limits see the client's IP, not the proxy's. Unset trusts no proxy.
   */
  TRUST_PROXY: optionalString,
  /** Secret for signing local file URLs; derived and stored under DATA_DIR when unset. */
  APP_SECRET: optionalString,
  LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error', 'silent']).default('info'),
});

export type Env = z.output<typeof EnvSchema>;

export class EnvError extends Error {}

/** Parses a variables object; throws EnvError naming each bad variable. */
export function parseEnv(source: Record<string, string | undefined>): Env {
  const result = EnvSchema.safeParse(source);
  if (!result.success) {
    const lines = result.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new EnvError(`Invalid configuration:\n${lines.join('\n')}`);
  }
  const env = result.data;
  const ossSet = [env.OSS_BUCKET, env.OSS_ACCESS_KEY_ID, env.OSS_ACCESS_KEY_SECRET].filter(Boolean).length;
  if (ossSet > 0 && (ossSet < 3 || (!env.OSS_REGION && !env.OSS_ENDPOINT))) {
    throw new EnvError(
      'Invalid configuration:\n  OSS_BUCKET: OSS needs OSS_BUCKET, OSS_ACCESS_KEY_ID, OSS_ACCESS_KEY_SECRET and OSS_REGION (or OSS_ENDPOINT) together',
    );
  }
  return { ...env, DATA_DIR: path.resolve(env.DATA_DIR) };
}

/** Whether the demo models are on offer: DEMO_PROVIDER, else only when no real provider is configured. */
export const demoEnabled = (env: Env): boolean =>
  env.DEMO_PROVIDER ?? (!env.DASHSCOPE_API_KEY && !env.OPENAI_API_KEY);

/** The process environment, parsed once. Only server/index.ts and CLIs should call this. */
export function loadEnv(): Env {
  return parseEnv(process.env);
}
