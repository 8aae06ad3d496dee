import { isIP } from 'node:net';
import path from 'node:path';
import { z } from 'zod';
import { Email } from '../shared/schemas/auth.ts';

const flag = z.enum(['true', 'false', '1', '0', 'yes', 'no', '']).optional();
const parseFlag = (v: string | undefined): boolean | undefined =>
  v === undefined || v === '' ? undefined : v === 'true' || v === '1' || v === 'yes';
const bool = (fallback: boolean) => flag.transform((v) => parseFlag(v) ?? fallback);
const optionalBool = flag.transform(parseFlag);

/** Empty (or only spaces) is unset, as for every variable: `ROLE=` in a compose file means the default. */
const emptyIsUnset = (v: unknown) => (typeof v === 'string' && v.trim() === '' ? undefined : v);
/** One of `values`, the fallback when unset or empty. */
const oneOf = <const T extends readonly [string, ...string[]]>(values: T, fallback: T[number]) =>
  z.preprocess(emptyIsUnset, z.enum(values).default(fallback as never));

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

/** A DNS name (letters, digits, hyphens, dots; `localhost` included). */
const HOST_NAME =
  /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*\.?$/i;

/** Every variable of SPEC §3 (plus a few operational extras), parsed once. */
export const EnvSchema = z.object({
  PORT: intIn(3000, 0, 65535),
  // Empty is unset, as for every variable: 127.0.0.1, never all interfaces by accident.
  HOST: optionalString
    .superRefine((v, ctx) => {
      if (v !== undefined && !isIP(v) && !HOST_NAME.test(v))
        ctx.addIssue({
          code: 'custom',
          message: 'must be an IP address or a host name, e.g. 127.0.0.1 or 0.0.0.0',
        });
    })
    .transform((v) => v ?? '127.0.0.1'),
  DATA_DIR: optionalString.transform((v) => v ?? './data'),
  DATABASE_URL: databaseUrl,
  OSS_BUCKET: optionalString.superRefine((v, ctx) => {
    if (v !== undefined && !/^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/.test(v))
      ctx.addIssue({
        code: 'custom',
        message:
          'must be a bucket name: 3–63 lowercase letters, digits and hyphens, starting and ending with a letter or digit',
      });
  }),
  OSS_REGION: optionalString.superRefine((v, ctx) => {
    if (v !== undefined && !/^oss-[a-z0-9-]+$/.test(v))
      ctx.addIssue({ code: 'custom', message: 'must be a region as ali-oss takes it, e.g. oss-cn-hangzhou' });
  }),
  OSS_ACCESS_KEY_ID: optionalString,
  OSS_ACCESS_KEY_SECRET: optionalString,
  /** Static STS: the token issued with OSS_ACCESS_KEY_ID/SECRET (which are then STS ones). */
  OSS_SECURITY_TOKEN: optionalString,
  /** ECS: the instance RAM role whose STS credentials the server fetches and refreshes. */
  OSS_ECS_RAM_ROLE: optionalString,
  /** Tests only: stands in for the ECS metadata service, http://100.100.100.200. */
  OSS_ECS_METADATA_URL: url,
  /** 4 (default): Signature V4; 1 only for old buckets that still accept V1. */
  OSS_SIGNATURE_VERSION: z
    .string()
    .optional()
    .transform((v, ctx) => {
      const version = v === undefined || v.trim() === '' ? '4' : v.trim();
      if (version !== '1' && version !== '4') {
        ctx.addIssue({ code: 'custom', message: 'must be 4 (Signature V4) or 1 (old buckets only)' });
        return z.NEVER;
      }
      return Number(version) as 1 | 4;
    }),
  OSS_ENDPOINT: url,
  /** Where the server uploads, heads and deletes (ECS: the region's -internal endpoint); never in URLs. */
  OSS_INTERNAL_ENDPOINT: url,
  OSS_CNAME: bool(false),
  // The first part of every object key (server/storage/keys.ts): segments of letters, digits, - and _,
  // one slash between them.
  OSS_PREFIX: z.preprocess(
    emptyIsUnset,
    z
      .string()
      .default('outputs')
      .refine(
        (v) => /^[A-Za-z0-9][A-Za-z0-9_-]*(\/[A-Za-z0-9_-]+)*$/.test(v),
        'letters, digits, - _ in segments, one / between them (e.g. outputs or team-1/outputs)',
      ),
  ),
  OSS_PUBLIC_BASE_URL: url,
  /** Up to 30 days here; at most 7 days (604800) when OSS signs with V4, checked in parseEnv. */
  OSS_URL_TTL_SECONDS: intIn(3600, 60, 30 * 24 * 3600),
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
    )
    .superRefine((emails, ctx) => {
      const bad = emails.filter((e) => !Email.safeParse(e).success);
      if (bad.length > 0)
        ctx.addIssue({ code: 'custom', message: `not an email address: ${bad.join(', ')}` });
    }),
  SIGNUP_BONUS_CREDITS: intIn(100, 0, 1_000_000_000),
  ALLOW_PRIVATE_NETWORK_FETCH: bool(false),
  WORKER_CONCURRENCY: intIn(4, 1, 256),
  ROLE: oneOf(['all', 'api', 'worker'], 'all'),
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
  TRUST_PROXY: optionalString
    .superRefine((v, ctx) => {
      if (v === undefined || v === 'true' || v === 'false' || /^\d+$/.test(v)) return;
      const bad = v
        .split(',')
        .map((part) => part.trim())
        .filter((part) => {
          if (['loopback', 'linklocal', 'uniquelocal'].includes(part)) return false;
          const [address, prefix, ...rest] = part.split('/');
          if (rest.length > 0 || !address || isIP(address) === 0) return true;
          return prefix !== undefined && !/^\d{1,3}$/.test(prefix);
        });
      if (bad.length > 0)
        ctx.addIssue({
          code: 'custom',
          message: `must be true, a hop count, or addresses/CIDRs (or loopback, linklocal, uniquelocal); not: ${bad.join(', ')}`,
        });
    })
    // `false` and `0` trust no proxy, as unset does.
    .transform((v) => (v === 'false' || v === '0' ? undefined : v)),
  PUBLIC_URL: url,
  /** Secret for signing local file URLs (at least 32 bytes); generated and stored under DATA_DIR when unset. */
  APP_SECRET: optionalString.superRefine((v, ctx) => {
    if (v !== undefined && Buffer.byteLength(v) < 32)
      ctx.addIssue({ code: 'custom', message: 'must be at least 32 bytes (e.g. `openssl rand -base64 32`)' });
  }),
  /** Sign-ups allowed from one IP address per hour; 0 = unlimited. */
  SIGNUPS_PER_IP_PER_HOUR: intIn(5, 0, 1_000_000),
  /** `smtp://user:pass@host:587` or `smtps://…`: email verification and password reset. Unset: links go to the log. */
  SMTP_URL: optionalString.superRefine((v, ctx) => {
    if (v !== undefined && !/^smtps?:\/\/[^\s]+$/.test(v))
      ctx.addIssue({ code: 'custom', message: 'must be smtp://user:pass@host:port or smtps://…' });
  }),
  /** The From address of account emails; default no-reply@ the PUBLIC_URL host. */
  MAIL_FROM: optionalString,
  LOG_LEVEL: oneOf(['debug', 'info', 'warn', 'error', 'silent'], 'info'),
  /** `json` (one JSON object per line) or `pretty` (readable lines, for development). */
  LOG_FORMAT: oneOf(['json', 'pretty'], 'json'),
  /** Run pending migrations at start; set false on all processes but one (they run `npm run db:migrate`). */
  MIGRATE_ON_START: bool(true),
  /** MySQL connections per process. */
  DATABASE_POOL_SIZE: intIn(20, 1, 1000),
  /** When set, GET /metrics needs `Authorization: Bearer <token>`. */
  METRICS_TOKEN: optionalString,
  /** Minutes between housekeeping sweeps (orphan objects, open uploads, expired sessions, temp files); 0 = off. */
  SWEEP_INTERVAL_MINUTES: intIn(60, 0, 7 * 24 * 60),
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
  const problems = ossProblems(env);
  if (problems.length > 0) {
    throw new EnvError(`Invalid configuration:\n${problems.map((p) => `  ${p}`).join('\n')}`);
  }
  if (env.SMTP_URL && !env.PUBLIC_URL) {
    throw new EnvError(
      'Invalid configuration:\n  PUBLIC_URL: SMTP_URL needs PUBLIC_URL, the origin the links in emails point at',
    );
  }
  return { ...env, DATA_DIR: path.resolve(env.DATA_DIR) };
}

const V4_MAX_URL_TTL_SECONDS = 7 * 24 * 3600;

/** Combinations of OSS_* variables that cannot work, each naming the variable to fix. */
function ossProblems(env: z.output<typeof EnvSchema>): string[] {
  const problems: string[] = [];
  const keyPair = Boolean(env.OSS_ACCESS_KEY_ID && env.OSS_ACCESS_KEY_SECRET);
  if (Boolean(env.OSS_ACCESS_KEY_ID) !== Boolean(env.OSS_ACCESS_KEY_SECRET)) {
    problems.push(
      `${env.OSS_ACCESS_KEY_ID ? 'OSS_ACCESS_KEY_SECRET' : 'OSS_ACCESS_KEY_ID'}: OSS_ACCESS_KEY_ID and OSS_ACCESS_KEY_SECRET go together`,
    );
  }
  if (env.OSS_SECURITY_TOKEN && !keyPair && !env.OSS_ECS_RAM_ROLE) {
    problems.push(
      'OSS_SECURITY_TOKEN: a security token needs the STS key pair it was issued with (OSS_ACCESS_KEY_ID and OSS_ACCESS_KEY_SECRET)',
    );
  }
  if (
    env.OSS_ECS_RAM_ROLE &&
    (env.OSS_ACCESS_KEY_ID || env.OSS_ACCESS_KEY_SECRET || env.OSS_SECURITY_TOKEN)
  ) {
    problems.push(
      'OSS_ECS_RAM_ROLE: use the instance RAM role or static keys (OSS_ACCESS_KEY_ID, OSS_ACCESS_KEY_SECRET, OSS_SECURITY_TOKEN), not both',
    );
  }
  const credentialsSet = env.OSS_ACCESS_KEY_ID || env.OSS_ACCESS_KEY_SECRET || env.OSS_SECURITY_TOKEN;
  if (!env.OSS_BUCKET) {
    if (credentialsSet || env.OSS_ECS_RAM_ROLE || env.OSS_INTERNAL_ENDPOINT) {
      problems.push('OSS_BUCKET: OSS settings are given but OSS_BUCKET is not set');
    }
    return problems;
  }
  if (!keyPair && !env.OSS_ECS_RAM_ROLE && !credentialsSet) {
    problems.push(
      'OSS_BUCKET: OSS needs credentials: OSS_ACCESS_KEY_ID and OSS_ACCESS_KEY_SECRET (plus OSS_SECURITY_TOKEN for STS), or OSS_ECS_RAM_ROLE on ECS',
    );
  }
  if (env.OSS_SIGNATURE_VERSION === 4) {
    if (!env.OSS_REGION) {
      problems.push(
        'OSS_REGION: Signature V4 (OSS_SIGNATURE_VERSION=4, the default) signs for a region: set OSS_REGION, e.g. oss-cn-hangzhou (OSS_ENDPOINT alone is not enough)',
      );
    }
    if (env.OSS_URL_TTL_SECONDS > V4_MAX_URL_TTL_SECONDS) {
      problems.push(
        `OSS_URL_TTL_SECONDS: Signature V4 URLs live at most ${V4_MAX_URL_TTL_SECONDS} seconds (7 days)`,
      );
    }
  } else if (!env.OSS_REGION && !env.OSS_ENDPOINT) {
    problems.push('OSS_REGION: set OSS_REGION (or OSS_ENDPOINT)');
  }
  if (env.OSS_ENDPOINT && /-internal\.aliyuncs\.com/i.test(env.OSS_ENDPOINT)) {
    problems.push(
      'OSS_ENDPOINT: an -internal endpoint cannot be reached by browsers; set it as OSS_INTERNAL_ENDPOINT and leave OSS_ENDPOINT unset (or the public host)',
    );
  }
  return problems;
}

/** Whether the demo models are on offer: DEMO_PROVIDER, else only when no real provider is configured. */
export const demoEnabled = (env: Env): boolean =>
  env.DEMO_PROVIDER ?? (!env.DASHSCOPE_API_KEY && !env.OPENAI_API_KEY);

/** The process environment, parsed once. Only server/index.ts and CLIs should call this. */
export function loadEnv(): Env {
  return parseEnv(process.env);
}
