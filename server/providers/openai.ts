import { randomUUID } from 'node:crypto';
import { AppError } from '../../shared/errors.ts';
import { findModel } from '../../shared/models.ts';
import { type HttpResponse, joinUrl, type RetryPolicy, redact, sendWithRetry } from './http.ts';
import type {
  CallOptions,
  GenerationRequest,
  PollResult,
  Provider,
  ProviderResult,
  SubmitResult,
} from './provider.ts';

export interface OpenAIConfig {
  apiKey: string;
  /** e.g. https://api.openai.com (a trailing /v1 is accepted too). */
  baseUrl: string;
  /** Per request; GPT image calls can take minutes. Default 180 s. */
  requestTimeoutMs?: number;
  /** Retries of 429. Default 3. */
  maxRetries?: number;
  /** First backoff delay. Default 1000. */
  retryBaseDelayMs?: number;
  /** The organisation's images per minute (OPENAI_IMAGES_PER_MINUTE), shared by the fleet; unset = no pacing. */
  imagesPerMinute?: number;
  /** Repeat a 429 inside the call (default true); the job runner turns it off and waits in the database. */
  retryRateLimited?: boolean;
}

const asRecord = (value: unknown): Record<string, unknown> =>
  typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : {};
const asString = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);

/** The real type of base64 image bytes (GPT image models can be asked for JPEG or WebP). */
const sniffImageType = (bytes: Uint8Array): string => {
  if (bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'image/jpeg';
  if (Buffer.from(bytes.subarray(0, 4)).toString('latin1') === 'RIFF') return 'image/webp';
  return 'image/png';
};

const CONTENT_CODES = new Set(['content_policy_violation', 'moderation_blocked']);
/** Finished results kept so that a poll right after submit (or a resumed job) still finds them. */
const KEEP_RESULTS = 16;

/**
 * OpenAI Images (`POST /v1/images/generations`). The call is synchronous: `submit` returns the final result
 * in `immediate`; gpt-image-* answers base64 (→ bytes), dall-e-3 answers short-lived URLs.
 */
export const createOpenAIProvider = (config: OpenAIConfig): Provider => {
  const timeoutMs = config.requestTimeoutMs ?? 180_000;
  const policy: RetryPolicy = {
    maxRetries: config.maxRetries ?? 3,
    baseDelayMs: config.retryBaseDelayMs ?? 1000,
    // A 5xx may still have generated (and billed) images, so only the explicit "slow down" is repeated.
    retryStatuses: new Set(config.retryRateLimited === false ? [] : [429]),
  };
  const finished = new Map<string, PollResult>();

  const errorFrom = (response: HttpResponse): AppError => {
    const error = asRecord(asRecord(response.json).error);
    const code = asString(error.code) ?? asString(error.type) ?? `HTTP ${response.status}`;
    const details = { provider: 'openai', providerStatus: response.status, providerCode: code };
    if (CONTENT_CODES.has(code) || error.type === 'image_generation_user_error') {
      return new AppError('CONTENT_REJECTED', 'The provider’s safety system rejected the prompt', {
        details,
      });
    }
    if (response.status === 429 && code !== 'insufficient_quota') {
      const header = Number(response.headers.get('retry-after'));
      return new AppError('RATE_LIMITED', 'OpenAI is rate limiting requests; try again later', {
        retryAfterMs: Number.isFinite(header) && header > 0 ? header * 1000 : 20_000,
        details,
      });
    }
    // The 401 message echoes part of the key, so it is never passed on.
    if (response.status === 401)
      return new AppError('PROVIDER_FAILED', 'OpenAI rejected the API key', { details });
    const message = redact(asString(error.message) ?? '', [config.apiKey]).slice(0, 300);
    return new AppError(
      'PROVIDER_FAILED',
      `OpenAI refused the request (${code}${message ? `: ${message}` : ''})`,
      {
        details,
      },
    );
  };

  return {
    id: 'openai',
    // Counted per request, which is per image for n = 1 (the common case); n > 1 may run ahead a little
    // and then meets a 429, which the runner waits out.
    ...(config.imagesPerMinute
      ? { limits: { submit: { key: 'openai:image', perSecond: config.imagesPerMinute / 60 } } }
      : {}),

    async submit(request: GenerationRequest, options?: CallOptions): Promise<SubmitResult> {
      const model = findModel(request.model);
      if (model?.provider !== 'openai' || request.kind !== 'image') {
        throw new AppError('VALIDATION', `model ${request.model} is not an OpenAI image model`);
      }
      const isDalle = model.providerModel.startsWith('dall-e');
      const body: Record<string, unknown> = {
        model: model.providerModel,
        prompt: request.prompt,
        n: request.n,
        size: request.size ?? '1024x1024',
      };
      // Only DALL·E takes response_format; GPT image models always answer base64.
      if (isDalle) body.response_format = 'url';

      const response = await sendWithRetry(
        {
          method: 'POST',
          url: joinUrl(config.baseUrl, '/v1', '/images/generations'),
          headers: { Authorization: `Bearer ${config.apiKey}` },
          body,
          timeoutMs,
          signal: options?.signal,
          provider: 'OpenAI',
        },
        policy,
      );
      if (response.status !== 200) throw errorFrom(response);

      const results: ProviderResult[] = [];
      const data = asRecord(response.json).data;
      for (const item of Array.isArray(data) ? data : []) {
        const record = asRecord(item);
        const b64 = asString(record.b64_json);
        const url = asString(record.url);
        if (b64) {
          const bytes = new Uint8Array(Buffer.from(b64, 'base64'));
          results.push({ bytes, contentType: sniffImageType(bytes) });
        } else if (url) results.push({ url });
      }
      const failedCount = Math.max(0, request.n - results.length);
      const usage: Record<string, number> = {};
      for (const [key, value] of Object.entries(asRecord(asRecord(response.json).usage))) {
        if (typeof value === 'number') usage[key] = value;
      }
      const immediate: PollResult =
        results.length > 0
          ? { state: 'succeeded', progress: 100, results, failedCount, usage }
          : {
              state: 'failed',
              failedCount,
              error: { code: 'PROVIDER_FAILED', message: 'OpenAI answered without any image' },
            };
      const taskId = `openai-${randomUUID()}`;
      finished.set(taskId, immediate);
      if (finished.size > KEEP_RESULTS) finished.delete(finished.keys().next().value as string);
      return { taskId, immediate };
    },

    async poll(taskId: string): Promise<PollResult> {
      return (
        finished.get(taskId) ?? {
          state: 'unknown',
          error: {
            code: 'PROVIDER_FAILED',
            message: 'OpenAI images are made synchronously; this result is no longer held, submit again',
          },
        }
      );
    },
  };
};
