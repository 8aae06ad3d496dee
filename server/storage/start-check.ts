import type { logger } from '../logger.ts';
import { NoAnswerInTime, withinMs } from '../services/clock.ts';
import type { Storage } from './storage.ts';

/**
 * OSS answers that mean the settings are wrong, not that OSS is away for a moment: every upload would
 * fail the same way until an operator changes them.
 */
const REFUSALS = new Set([
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'AccessDenied',
  'NoSuchBucket',
  'InvalidBucketName',
  'InvalidSecurityToken',
  'SecurityTokenExpired',
  'UserDisable',
]);

/** The key looked up: under OSS_PREFIX, never written. */
export const startCheckKey = (prefix: string) => `${prefix}/.start-check`;

export type StartCheck = 'ok' | 'refused' | 'unreachable' | 'skipped';

/**
 * One look at OSS as the server starts (a HEAD of a key under the prefix, which needs the read
 * permission every signed URL needs), so wrong settings are said once, in one line naming the variables,
 * instead of by each job failing with STORAGE_UPLOAD_FAILED (refunded). The start waits for it (at most
 * `timeoutMs`, 3 s) before it listens, so the look is over before anything is served, then goes on either
 * way: OSS may be away for a moment, and jobs retry their uploads. Local storage is checked with DATA_DIR.
 */
export async function checkStorageAtStart(
  storage: Storage,
  options: { prefix: string; log: Pick<typeof logger, 'info' | 'warn' | 'error'>; timeoutMs?: number },
): Promise<StartCheck> {
  if (storage.kind !== 'oss') return 'skipped';
  const timeoutMs = options.timeoutMs ?? 3_000;
  try {
    await withinMs(storage.head(startCheckKey(options.prefix)), timeoutMs);
    options.log.info('storage: OSS answered with these settings');
    return 'ok';
  } catch (error) {
    const { code, status } = error as { code?: unknown; status?: unknown };
    if (typeof code === 'string' && REFUSALS.has(code)) {
      options.log.error(
        `storage: OSS refused this server (${code}, HTTP ${String(status)}): every upload will fail until OSS_ACCESS_KEY_ID and OSS_ACCESS_KEY_SECRET (or OSS_ECS_RAM_ROLE), OSS_BUCKET, OSS_REGION and OSS_ENDPOINT are right`,
      );
      return 'refused';
    }
    const reason =
      error instanceof NoAnswerInTime
        ? `no answer within ${timeoutMs / 1000} s`
        : typeof code === 'string' && code
          ? code
          : (error as Error).name || 'error';
    options.log.warn(
      `storage: OSS did not answer as the server started (${reason}); uploads retry as jobs run`,
    );
    return 'unreachable';
  }
}
