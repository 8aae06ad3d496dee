import { AppError } from '../../shared/errors.ts';
import {
  findModel,
  type ModelInfo,
  parseSize,
  VIDEO_DIMENSIONS,
  type VideoResolution,
} from '../../shared/models.ts';
import { extended } from '../../shared/objects.ts';
import {
  type HttpResponse,
  joinUrl,
  type RetryPolicy,
  redact,
  retryAfterMs,
  sendWithRetry,
  TokenBucket,
} from './http.ts';
import { normaliseState } from './normalise.ts';
import type {
  CallOptions,
  GenerationRequest,
  PollPace,
  PollResult,
  Provider,
  ProviderResult,
  SubmitResult,
} from './provider.ts';

export interface DashScopeConfig {
  apiKey: string;
  /** e.g. https://dashscope.aliyuncs.com (a trailing /api/v1 is accepted too). */
  baseUrl: string;
  /** First poll interval the adapter suggests; it doubles every 3 polls up to 5×. Default 1000. */
  pollIntervalMs?: number;
  /** Per HTTP request. Default 30 s. */
  requestTimeoutMs?: number;
  /** Retries of 429 (and of 5xx on queries). Default 3. */
  maxRetries?: number;
  /** First backoff delay. Default 1000. */
  retryBaseDelayMs?: number;
  /** Query rate limit (DashScope: 20 per second per account), shared by the fleet. */
  queriesPerSecond?: number;
  /** Submit rate limit of the account (DASHSCOPE_SUBMITS_PER_SECOND, default 10), shared by the fleet. */
  submitsPerSecond?: number;
  /**
   * Repeat a 429 inside the call (default true). The job runner turns it off: a throttled job waits in
   * the database instead, holding no worker.
   */
  retryRateLimited?: boolean;
  /** How long a throttled request waits when DashScope names no Retry-After. Default 5000. */
  throttleDelayMs?: number;
}

const API_PREFIX = '/api/v1';
const IMAGE_PATH = '/services/aigc/text2image/image-synthesis';
const VIDEO_PATH = '/services/aigc/video-generation/video-synthesis';

const asRecord = (value: unknown): Record<string, unknown> =>
  typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : {};
const asString = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);

/** "1024x1024" → "1024*1024": DashScope writes sizes with an asterisk. */
export const toDashScopeSize = (size: string): string => {
  const parsed = parseSize(size);
  if (!parsed) throw new AppError('VALIDATION', `bad size ${size}`);
  return `${parsed.width}*${parsed.height}`;
};

const isContentRejection = (code: string | undefined) => code?.startsWith('DataInspection') ?? false;

/** The Wan text-to-image, text-to-video and image-to-video adapter (async task API). */
export const createDashScopeProvider = (config: DashScopeConfig): Provider => {
  const timeoutMs = config.requestTimeoutMs ?? 30_000;
  const baseDelayMs = config.retryBaseDelayMs ?? 1000;
  const maxRetries = config.maxRetries ?? 3;
  const pollIntervalMs = config.pollIntervalMs ?? 1000;
  const queriesPerSecond = config.queriesPerSecond ?? 20;
  const queries = new TokenBucket(queriesPerSecond);
  const rateStatuses = config.retryRateLimited === false ? [] : [429];
  const auth = { Authorization: `Bearer ${config.apiKey}` };
  const url = (path: string) => joinUrl(config.baseUrl, API_PREFIX, path);
  const clean = (text: string) => redact(text, [config.apiKey]);

  // A rejected submission never created a task, so 429 is safe to repeat; a 5xx might have, so it is not.
  const submitPolicy: RetryPolicy = { maxRetries, baseDelayMs, retryStatuses: new Set(rateStatuses) };
  const queryPolicy: RetryPolicy = {
    maxRetries,
    baseDelayMs,
    retryStatuses: new Set([...rateStatuses, 500, 502, 503, 504]),
  };

  /** Turns a non-2xx DashScope answer ({code, message, request_id}) into an AppError. */
  const errorFrom = (response: HttpResponse, action: string): AppError => {
    const body = asRecord(response.json);
    const code = asString(body.code) ?? `HTTP ${response.status}`;
    const message = clean(asString(body.message) ?? '');
    const details = { provider: 'dashscope', providerStatus: response.status, providerCode: code };
    if (response.status === 429) {
      return new AppError('RATE_LIMITED', `DashScope is throttling requests (${code}); try again later`, {
        retryAfterMs: retryAfterMs(response.headers) ?? config.throttleDelayMs ?? 5_000,
        details,
      });
    }
    if (isContentRejection(code)) {
      return new AppError(
        'CONTENT_REJECTED',
        'The provider’s content moderation rejected the prompt or image',
        {
          details,
        },
      );
    }
    if (response.status === 401) {
      return new AppError('PROVIDER_FAILED', `DashScope rejected the API key (${code})`, { details });
    }
    return new AppError(
      'PROVIDER_FAILED',
      `DashScope could not ${action} (${code}${message ? `: ${message}` : ''})`,
      {
        details,
      },
    );
  };

  const buildBody = (request: GenerationRequest, model: ModelInfo) => {
    const input: Record<string, unknown> = { prompt: request.prompt };
    if (request.negativePrompt) input.negative_prompt = request.negativePrompt;
    const parameters: Record<string, unknown> = { watermark: false };
    if (request.seed !== undefined) parameters.seed = request.seed;
    if (model.kind === 'image') {
      parameters.size = toDashScopeSize(request.size ?? model.sizes?.[0] ?? '1024x1024');
      // n defaults to 4 at DashScope and is billed per image, so it is always sent.
      parameters.n = request.n;
      return { path: IMAGE_PATH, body: { model: model.providerModel, input, parameters } };
    }
    const resolution = (request.resolution ?? model.resolutions?.[0] ?? '720p') as VideoResolution;
    parameters.duration = request.durationSeconds ?? model.durations?.[0] ?? 5;
    if (model.supportsImageInput) {
      // Image-to-video takes the first frame as a URL and a resolution tier instead of a size.
      if (!request.imageUrl) throw new AppError('VALIDATION', `${model.id} needs an input image`);
      input.img_url = request.imageUrl;
      parameters.resolution = resolution.toUpperCase();
    } else {
      if (request.imageUrl) throw new AppError('VALIDATION', `${model.id} does not take an input image`);
      const dims = VIDEO_DIMENSIONS[resolution];
      if (!dims) throw new AppError('VALIDATION', `bad video resolution ${request.resolution}`);
      parameters.size = `${dims.width}*${dims.height}`;
    }
    return { path: VIDEO_PATH, body: { model: model.providerModel, input, parameters } };
  };

  const parseTask = (json: unknown): PollResult => {
    const body = asRecord(json);
    const output = asRecord(body.output);
    const state = normaliseState(output.task_status);
    const metrics = asRecord(output.task_metrics);
    const total = typeof metrics.TOTAL === 'number' ? metrics.TOTAL : 0;
    const usage: Record<string, number> = {};
    for (const [key, value] of Object.entries(asRecord(body.usage)))
      if (typeof value === 'number') usage[key] = value;

    if (state === 'queued') return { state, progress: 0 };
    if (state === 'running') {
      const done = (Number(metrics.SUCCEEDED) || 0) + (Number(metrics.FAILED) || 0);
      return { state, progress: total > 0 ? Math.min(99, Math.round((done / total) * 100)) : undefined };
    }
    if (state === 'succeeded') {
      const results: ProviderResult[] = [];
      let failedCount = 0;
      for (const item of Array.isArray(output.results) ? output.results : []) {
        const url = asString(asRecord(item).url);
        if (url) results.push({ url });
        else failedCount++;
      }
      const videoUrl = asString(output.video_url);
      if (videoUrl) results.push({ url: videoUrl });
      // wan2.6 "messages" protocol: output.choices[].message.content[].image
      for (const choice of Array.isArray(output.choices) ? output.choices : []) {
        const content = asRecord(asRecord(choice).message).content;
        for (const part of Array.isArray(content) ? content : []) {
          const image = asString(asRecord(part).image);
          if (image) results.push({ url: image });
        }
      }
      if (typeof metrics.FAILED === 'number') failedCount = Math.max(failedCount, metrics.FAILED);
      if (results.length === 0) {
        return {
          state: 'failed',
          failedCount,
          error: { code: 'PROVIDER_FAILED', message: 'DashScope finished the task without any output' },
        };
      }
      return { state, progress: 100, results, failedCount, usage };
    }
    if (state === 'failed') {
      const code = asString(output.code) ?? 'UnknownError';
      if (isContentRejection(code)) {
        return {
          state,
          error: {
            code: 'CONTENT_REJECTED',
            message: 'The provider’s content moderation rejected the prompt or result',
          },
        };
      }
      const message = clean(asString(output.message) ?? '');
      return {
        state,
        error: {
          code: 'PROVIDER_FAILED',
          message: `DashScope task failed (${code}${message ? `: ${message}` : ''})`,
        },
      };
    }
    if (state === 'canceled') {
      return { state, error: { code: 'PROVIDER_FAILED', message: 'The task was canceled at DashScope' } };
    }
    return {
      state: 'unknown',
      error: { code: 'PROVIDER_FAILED', message: 'DashScope does not know this task (it may have expired)' },
    };
  };

  return {
    id: 'dashscope',
    limits: {
      submit: { key: 'dashscope:submit', perSecond: config.submitsPerSecond ?? 10 },
      query: { key: 'dashscope:query', perSecond: queriesPerSecond },
    },

    async submit(request: GenerationRequest, options?: CallOptions): Promise<SubmitResult> {
      const model = findModel(request.model);
      if (model?.provider !== 'dashscope' || model.kind !== request.kind) {
        throw new AppError('VALIDATION', `model ${request.model} is not a DashScope model`);
      }
      const { path, body } = buildBody(request, model);
      const response = await sendWithRetry(
        {
          method: 'POST',
          url: url(path),
          headers: extended(auth, { 'X-DashScope-Async': 'enable' }),
          body,
          timeoutMs,
          signal: options?.signal,
          provider: 'DashScope',
        },
        submitPolicy,
      );
      if (response.status !== 200) throw errorFrom(response, 'accept the task');
      const taskId = asString(asRecord(asRecord(response.json).output).task_id);
      if (!taskId) throw new AppError('PROVIDER_FAILED', 'DashScope accepted the task but sent no task id');
      return { taskId };
    },

    async poll(taskId: string, options?: CallOptions): Promise<PollResult> {
      const response = await sendWithRetry(
        {
          method: 'GET',
          url: url(`/tasks/${encodeURIComponent(taskId)}`),
          headers: auth,
          timeoutMs,
          signal: options?.signal,
          provider: 'DashScope',
        },
        queryPolicy,
        () => queries.take(options?.signal),
      );
      if (response.status !== 200) throw errorFrom(response, 'report the task');
      return parseTask(response.json);
    },

    async cancel(taskId: string, options?: CallOptions): Promise<void> {
      const response = await sendWithRetry(
        {
          method: 'POST',
          url: url(`/tasks/${encodeURIComponent(taskId)}/cancel`),
          headers: auth,
          timeoutMs,
          signal: options?.signal,
          provider: 'DashScope',
        },
        submitPolicy,
        () => queries.take(options?.signal),
      );
      if (response.status !== 200) throw errorFrom(response, 'cancel the task (only PENDING tasks can be)');
    },

    suggestedPollDelayMs: (pollCount: number, pace?: PollPace) => {
      if (config.pollIntervalMs !== undefined || !pace) {
        return Math.min(pollIntervalMs * 2 ** Math.floor(pollCount / 3), pollIntervalMs * 5);
      }
      // The documented cadence: a video is worth a first look after 15 s, an image after 5 s; later
      // polls space out with the task's age (a 5-minute video is not asked every 3 s), so the 20
      // queries per second go where results are likely.
      const video = pace.kind === 'video';
      if (pace.polls === 0) return video ? 15_000 : 5_000;
      // Not done at the first look: soon after (a task is often just finishing), then spaced by age.
      const byAge = Math.round(pace.ageMs / 8);
      return video ? Math.min(30_000, Math.max(2_000, byAge)) : Math.min(15_000, Math.max(1_500, byAge));
    },
  };
};
