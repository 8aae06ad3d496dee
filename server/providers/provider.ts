import type { AppCode } from '../../shared/errors.ts';

/** Provider task states, normalised at the adapter boundary (SPEC §6). */
export type ProviderState = 'queued' | 'running' | 'succeeded' | 'failed' | 'canceled' | 'unknown';

export interface GenerationRequest {
  kind: 'image' | 'video';
  /** Catalogue model id (shared/models.ts). The adapter maps it to the provider's model name. */
  model: string;
  prompt: string;
  negativePrompt?: string;
  /** Image size as "WIDTHxHEIGHT", e.g. "1024x1024". */
  size?: string;
  /** Number of images (1..4). Videos are always 1. */
  n: number;
  seed?: number;
  durationSeconds?: number;
  /** Video resolution, e.g. "480p", "720p", "1080p". */
  resolution?: string;
  /** Image-to-video: a URL the provider can read (a signed URL of the user's own output). */
  imageUrl?: string;
}

/**
 * Digests of a result's bytes, computed where the bytes were made (the demo's render threads), so that
 * persist and the upload do not hash them again on the event loop. Only a provider running in this
 * process sets them: they are recorded (sha256) and sent to OSS (md5, which OSS checks the bytes against).
 */
export interface ContentDigests {
  /** Hex. */
  sha256: string;
  /** Base64, as the Content-MD5 header carries it. */
  md5: string;
}

export type ProviderResult =
  | { url: string }
  | { bytes: Uint8Array; contentType: string; digests?: ContentDigests };

export interface PollResult {
  state: ProviderState;
  /** 0..100 when the provider reports it. */
  progress?: number;
  /** On success: the outputs (some may be missing on partial success). */
  results?: ProviderResult[];
  /** How many of the requested outputs failed (partial success). */
  failedCount?: number;
  usage?: Record<string, number>;
  /** On failed/canceled/unknown: the mapped appCode and a message safe to show a user. */
  error?: { code: AppCode; message: string };
}

export interface SubmitResult {
  taskId: string;
  /** Synchronous providers (OpenAI Images) return the final result here; async ones leave it out. */
  immediate?: PollResult;
}

/** A provider account limit, shared by every worker process through the database (jobs/limiter.ts). */
export interface RateLimit {
  /** Row name in provider_limits, e.g. `dashscope:submit`. */
  key: string;
  /** Requests allowed per second across the whole fleet. */
  perSecond: number;
}

/** What the runner knows when it asks a provider how long to wait before the next poll. */
export interface PollPace {
  kind: 'image' | 'video';
  /** Time since the task was submitted. */
  ageMs: number;
  /** 0 right after the submit, then how many polls were made. */
  polls: number;
  /** Last progress the provider reported, 0..100. */
  progress?: number;
}

export interface CallOptions {
  signal?: AbortSignal;
}

/**
 * One interface for every AI provider. Transport errors are thrown as AppError with
 * PROVIDER_FAILED, PROVIDER_TIMEOUT, CONTENT_REJECTED or RATE_LIMITED (with retryAfterMs).
 */
export interface Provider {
  readonly id: 'demo' | 'dashscope' | 'openai';
  submit(request: GenerationRequest, options?: CallOptions): Promise<SubmitResult>;
  poll(taskId: string, options?: CallOptions): Promise<PollResult>;
  cancel?(taskId: string, options?: CallOptions): Promise<void>;
  /**
   * How long to wait before the next poll (the provider's advice: its documented cadence, the task's
   * age and progress). `pollCount` is the number of polls made so far.
   */
  suggestedPollDelayMs?(pollCount: number, pace?: PollPace): number;
  /** The account's limits, if the provider has any worth pacing by. */
  readonly limits?: { submit?: RateLimit; query?: RateLimit };
  /**
   * Makes its tasks in this process (the demo): a task exists nowhere else and bills nobody, so submitting
   * again after a crash costs nothing and leaves nothing behind. So an instant task's id need not be on the
   * row before its result is stored: it is written with the outputs.
   */
  readonly local?: boolean;
}
