import { z } from 'zod';
import { NEGATIVE_PROMPT_MAX_LENGTH, PROMPT_MAX_LENGTH, SEED_MAX } from '../limits.ts';

export { NEGATIVE_PROMPT_MAX_LENGTH, PROMPT_MAX_LENGTH };

/** A UTF-16 surrogate without its pair: it cannot be stored or sent on as it came. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
/** Control characters other than tab and line breaks (NUL, escape, ...). */
const CONTROL = /[^\P{Cc}\t\n\r]/u;
/** Text a provider can take: no broken characters, no control characters. */
const text = z
  .string()
  .refine((value) => !LONE_SURROGATE.test(value), { message: 'The text has a broken character' })
  .refine((value) => !CONTROL.test(value), { message: 'The text has a control character' });
const prompt = text
  .trim()
  .max(PROMPT_MAX_LENGTH)
  // Something to see: spaces, zero-width and other invisible characters alone are no prompt to pay for.
  .refine((value) => /[^\s\p{Cc}\p{Cf}]/u.test(value), { message: 'Write a prompt' });
// Whatever a client makes (a UUID, base64, `order-7`, `k1`), up to the column's 128 characters; no
// spaces, which MySQL's PAD SPACE collations would ignore at the end (`k1` and `k1 ` one key).
const idempotencyKey = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[\x21-\x7e]+$/, { message: 'Use printable ASCII characters without spaces' });
const seed = z.number().int().min(0).max(SEED_MAX);

// The inputs that spend credits are strict: an unknown key is VALIDATION, never ignored, so that a
// misspelt `dryRun` or `idempotencyKey` (`dry_run`) cannot charge, or charge twice.
export const GenerateImageInput = z.strictObject({
  prompt,
  negativePrompt: text.trim().max(NEGATIVE_PROMPT_MAX_LENGTH).optional(),
  model: z.string().max(64).optional(),
  /** "WIDTHxHEIGHT", one of the model's sizes. */
  size: z
    .string()
    .regex(/^\d{2,4}x\d{2,4}$/)
    .optional(),
  n: z.number().int().min(1).max(4).default(1),
  seed: seed.optional(),
  dryRun: z.boolean().optional(),
  idempotencyKey: idempotencyKey.optional(),
});
export type GenerateImageInput = z.input<typeof GenerateImageInput>;

export const GenerateVideoInput = z.strictObject({
  prompt,
  model: z.string().max(64).optional(),
  durationSeconds: z.number().int().min(1).max(60).optional(),
  resolution: z.enum(['480p', '720p', '1080p']).optional(),
  /** Animate one of your own image outputs. */
  imageOutputId: z.string().max(64).optional(),
  seed: seed.optional(),
  dryRun: z.boolean().optional(),
  idempotencyKey: idempotencyKey.optional(),
});
export type GenerateVideoInput = z.input<typeof GenerateVideoInput>;

export const JobStatus = z.enum(['queued', 'running', 'succeeded', 'failed', 'canceled']);
export type JobStatus = z.infer<typeof JobStatus>;
export const JobStage = z.enum(['queued', 'submitting', 'generating', 'uploading', 'done']);
export const OutputKind = z.enum(['image', 'video']);

export const IdInput = z.object({ id: z.string().min(1).max(64) });

/** A page cursor: the `nextCursor` of the page before (an id), never anything else. */
export const Cursor = z
  .string()
  .max(64)
  .regex(/^[0-9A-Za-z-]+$/, 'cursor must be the nextCursor of an earlier page');

export const JobsListInput = z
  .object({
    cursor: Cursor.nullish(),
    limit: z.number().int().min(1).max(100).default(20),
    kind: OutputKind.optional(),
    status: JobStatus.optional(),
  })
  .default({ limit: 20 });

export const OUTPUT_SEARCH_MAX_LENGTH = 100;

/** Search text for outputs.list: trimmed; empty means no search; otherwise it needs a letter or digit. */
export const OutputSearchText = z
  .string()
  .trim()
  .max(OUTPUT_SEARCH_MAX_LENGTH)
  .refine((q) => q === '' || /[\p{L}\p{N}]/u.test(q), { message: 'Search for a word' });

export const OutputsListInput = z
  .object({
    cursor: Cursor.nullish(),
    limit: z.number().int().min(1).max(100).default(30),
    kind: OutputKind.optional(),
    /** Words or characters of the prompt (see server/services/search-text.ts). */
    q: OutputSearchText.optional(),
  })
  .default({ limit: 30 });

export const AdminJobsListInput = z
  .object({
    cursor: Cursor.nullish(),
    limit: z.number().int().min(1).max(200).default(50),
    status: JobStatus.optional(),
  })
  .default({ limit: 50 });

/** What a client sees of a job (SPEC §5 "Views"). */
export interface JobView {
  id: string;
  kind: 'image' | 'video';
  status: JobStatus;
  stage: z.infer<typeof JobStage>;
  progress: number;
  statusSequence: number;
  model: string;
  prompt: string;
  params: Record<string, unknown>;
  cost: number;
  refunded: number;
  error?: { code: string; message: string };
  createdAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
}

/** An output's `meta` (SPEC §4). Null: does not apply or unknown; absent: an output stored before 2026-12-01 16:00. */
export interface OutputMeta {
  width?: number | null;
  height?: number | null;
  duration_seconds?: number | null;
  provider: string;
  model: string;
  provider_model?: string | null;
  seed?: number | null;
  source_host?: string | null;
}

/** What a client sees of an output: storage URLs only, never a provider's. */
export interface OutputView {
  id: string;
  jobId: string;
  kind: 'image' | 'video';
  url: string;
  thumbnailUrl: string;
  downloadUrl: string;
  ossPath: string;
  size: number;
  contentType: string;
  meta: OutputMeta;
  /** The prompt of the output's job (the gallery shows it on hover). */
  prompt: string;
  createdAt: Date;
  /** Only on dry runs. */
  placeholder?: boolean;
}
