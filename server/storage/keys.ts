/** Object keys: `{prefix}/{userId}/{yyyy}/{mm}/{dd}/{jobId}/{index}.{ext}`, UTC date, ids only (SPEC §7). */
import { extended } from '../../shared/objects.ts';

export const OUTPUT_EXTENSIONS = ['png', 'jpg', 'webp', 'mp4', 'webm'] as const;
export type OutputExtension = (typeof OUTPUT_EXTENSIONS)[number];

const ID = /^[A-Za-z0-9_-]{1,128}$/;
const PREFIX = /^[A-Za-z0-9_-]+(\/[A-Za-z0-9_-]+)*$/;

export interface ObjectKeyParts {
  prefix?: string;
  userId: string | number;
  jobId: string;
  index: number;
  ext: string;
  /** The job's creation time; the key's date folders are in UTC. */
  date: Date;
}

/** Build the key for one output. Throws on anything that is not an id, so no user text reaches a key. */
export const objectKey = (parts: ObjectKeyParts): string => {
  const prefix = (parts.prefix ?? 'outputs').replace(/^\/+|\/+$/g, '');
  const userId = String(parts.userId);
  if (!PREFIX.test(prefix)) throw new Error(`Invalid object key prefix: ${prefix}`);
  if (!ID.test(userId)) throw new Error('Invalid user id for an object key');
  if (!ID.test(parts.jobId)) throw new Error('Invalid job id for an object key');
  if (!Number.isInteger(parts.index) || parts.index < 0) throw new Error('Invalid output index');
  if (!(OUTPUT_EXTENSIONS as readonly string[]).includes(parts.ext)) {
    throw new Error(`Invalid output extension: ${parts.ext}`);
  }
  if (Number.isNaN(parts.date.getTime())) throw new Error('Invalid date for an object key');
  const yyyy = String(parts.date.getUTCFullYear()).padStart(4, '0');
  const mm = String(parts.date.getUTCMonth() + 1).padStart(2, '0');
  const dd = String(parts.date.getUTCDate()).padStart(2, '0');
  return `${prefix}/${userId}/${yyyy}/${mm}/${dd}/${parts.jobId}/${parts.index}.${parts.ext}`;
};

/** The `keyFor(ext)` that persist takes, for one output of one job. */
export const keyForOutput =
  (parts: Omit<ObjectKeyParts, 'ext'>) =>
  (ext: string): string =>
    objectKey(extended(parts, { ext }));
