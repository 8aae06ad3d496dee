import { PNG } from 'pngjs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AppError } from '../../shared/errors.ts';
import { type DashScopeFake, startDashScopeFake } from '../../test/fakes/dashscope-server.ts';
import { parseMp4 } from '../../test/fakes/mp4.ts';
import { createDashScopeProvider, type DashScopeConfig } from './dashscope.ts';
import { isTerminalState } from './normalise.ts';
import type { GenerationRequest, PollResult, Provider } from './provider.ts';

let fake: DashScopeFake;
beforeEach(async () => {
  fake = await startDashScopeFake();
});
afterEach(async () => {
  await fake.close();
});

const adapter = (over: Partial<DashScopeConfig> = {}): Provider =>
  createDashScopeProvider({
    apiKey: fake.apiKey,
    baseUrl: fake.url,
    pollIntervalMs: 5,
    retryBaseDelayMs: 5,
    requestTimeoutMs: 5000,
    ...over,
  });

const imageRequest = (over: Partial<GenerationRequest> = {}): GenerationRequest => ({
  kind: 'image',
  model: 'wan-t2i-flash',
  prompt: 'a lighthouse on a cliff at dusk',
  negativePrompt: 'blurry',
  size: '1024x768',
  n: 2,
  seed: 42,
  ...over,
});

/** Polls until a final state, returning every answer. */
const pollToEnd = async (provider: Provider, taskId: string): Promise<PollResult[]> => {
  const seen: PollResult[] = [];
  for (let i = 0; i < 50; i++) {
    const result = await provider.poll(taskId);
    seen.push(result);
    if (isTerminalState(result.state)) return seen;
  }
  throw new Error('task never finished');
};

const appError = async (promise: Promise<unknown>): Promise<AppError> => {
  try {
    await promise;
  } catch (error) {
    if (error instanceof AppError) return error;
    throw error;
  }
  throw new Error('expected an AppError');
};

const lastBody = () => fake.requests.filter((r) => r.method === 'POST').at(-1)?.body as Record<string, any>;

describe('DashScope adapter: text to image', () => {
  it('submits with the async header and a W*H size, then polls PENDING → RUNNING → SUCCEEDED to result URLs', async () => {
    const provider = adapter();
    const { taskId, immediate } = await provider.submit(imageRequest());
    expect(immediate).toBeUndefined();
    const submitted = fake.requests.find((r) => r.method === 'POST');
    expect(submitted?.path).toBe('/api/v1/services/aigc/text2image/image-synthesis');
    expect(submitted?.headers['x-dashscope-async']).toBe('enable');
    expect(lastBody()).toMatchObject({
      model: 'wan2.2-t2i-flash',
      input: { prompt: 'a lighthouse on a cliff at dusk', negative_prompt: 'blurry' },
      parameters: { size: '1024*768', n: 2, seed: 42 },
    });

    const seen = await pollToEnd(provider, taskId);
    expect(seen.map((r) => r.state)).toEqual(['queued', 'running', 'running', 'succeeded']);
    const done = seen.at(-1);
    expect(done?.results).toHaveLength(2);
    expect(done?.failedCount).toBe(0);
    const first = done?.results?.[0];
    const url = first && 'url' in first ? first.url : '';
    expect(url.startsWith(fake.url)).toBe(true);
    const png = PNG.sync.read(Buffer.from(await (await fetch(url)).arrayBuffer()));
    expect([png.width, png.height]).toEqual([1024, 768]);
  });

  it('reports partial success: the failed sub-results are counted, not returned', async () => {
    fake.setScenario({ outcome: 'partial', partialFailures: 1, states: [] });
    const provider = adapter();
    const { taskId } = await provider.submit(imageRequest({ n: 3, size: '1024x1024' }));
    const result = await provider.poll(taskId);
    expect(result.state).toBe('succeeded');
    expect(result.results).toHaveLength(2);
    expect(result.failedCount).toBe(1);
    expect(result.usage?.image_count).toBe(2);
  });

  it('maps a FAILED task (HTTP 200 body) to failed with PROVIDER_FAILED and the provider code', async () => {
    fake.setScenario({ outcome: 'failed', failCode: 'InternalError.Algo', states: ['RUNNING'] });
    const provider = adapter();
    const { taskId } = await provider.submit(imageRequest());
    const final = (await pollToEnd(provider, taskId)).at(-1);
    expect(final?.state).toBe('failed');
    expect(final?.error?.code).toBe('PROVIDER_FAILED');
    expect(final?.error?.message).toContain('InternalError.Algo');
  });

  it('maps an UNKNOWN task and an id it never issued to unknown', async () => {
    fake.setScenario({ outcome: 'unknown', states: [] });
    const provider = adapter();
    const { taskId } = await provider.submit(imageRequest());
    expect(await provider.poll(taskId)).toMatchObject({
      state: 'unknown',
      error: { code: 'PROVIDER_FAILED' },
    });
    expect((await provider.poll('no-such-task')).state).toBe('unknown');
  });

  it('maps DataInspectionFailed to CONTENT_REJECTED, at poll time and at submit time', async () => {
    fake.setScenario({ outcome: 'data-inspection', states: [] });
    const provider = adapter();
    const { taskId } = await provider.submit(imageRequest());
    expect(await provider.poll(taskId)).toMatchObject({
      state: 'failed',
      error: { code: 'CONTENT_REJECTED' },
    });

    fake.setScenario({
      submitError: {
        status: 400,
        code: 'DataInspectionFailed',
        message: 'Input data may contain inappropriate content.',
      },
    });
    const error = await appError(provider.submit(imageRequest()));
    expect(error.code).toBe('CONTENT_REJECTED');
  });

  it('fails with PROVIDER_FAILED on a bad API key and never repeats the key', async () => {
    const provider = adapter({ apiKey: 'sk-wrong-key-123456' });
    const error = await appError(provider.submit(imageRequest()));
    expect(error.code).toBe('PROVIDER_FAILED');
    expect(error.message).toContain('InvalidApiKey');
    expect(error.message).not.toContain('sk-wrong-key-123456');
    expect(JSON.stringify(error.details)).not.toContain('sk-wrong');
    expect(fake.submissions).toBe(0);
  });

  it('does not repeat a submission that got a 5xx (it might have created a task)', async () => {
    fake.failNext(1, 500, 'InternalError');
    const error = await appError(adapter().submit(imageRequest()));
    expect(error.code).toBe('PROVIDER_FAILED');
    expect(fake.requests.filter((r) => r.method === 'POST')).toHaveLength(1);
  });

  it('retries a query that got a 5xx and then succeeds', async () => {
    fake.setScenario({ states: [] });
    const provider = adapter();
    const { taskId } = await provider.submit(imageRequest());
    fake.failNext(2, 503, 'ModelUnavailable');
    expect((await provider.poll(taskId)).state).toBe('succeeded');
  });

  it('retries 429 Throttling with backoff and then succeeds, creating exactly one task', async () => {
    fake.throttleNext(2);
    const { taskId } = await adapter().submit(imageRequest());
    expect(taskId).toBeTruthy();
    expect(fake.requests.filter((r) => r.method === 'POST')).toHaveLength(3);
    expect(fake.submissions).toBe(1);
  });

  it('surfaces RATE_LIMITED with retryAfterMs when throttling outlasts the retries', async () => {
    fake.throttleNext(10);
    const error = await appError(adapter({ maxRetries: 2 }).submit(imageRequest()));
    expect(error.code).toBe('RATE_LIMITED');
    expect(error.retryAfterMs).toBeGreaterThan(0);
    expect(fake.requests).toHaveLength(3);
    expect(fake.submissions).toBe(0);
  });

  it('turns a hanging request into PROVIDER_TIMEOUT', async () => {
    fake.hangNext(1, 2000);
    const started = Date.now();
    const error = await appError(adapter({ requestTimeoutMs: 150 }).submit(imageRequest()));
    expect(error.code).toBe('PROVIDER_TIMEOUT');
    expect(Date.now() - started).toBeLessThan(1500);
  });

  it('rejects a model of another provider without calling DashScope', async () => {
    const error = await appError(adapter().submit(imageRequest({ model: 'gpt-image-1' })));
    expect(error.code).toBe('VALIDATION');
    expect(fake.requests).toHaveLength(0);
  });
});

describe('DashScope adapter: video', () => {
  it('submits text-to-video with a listed W*H size and returns the video URL', async () => {
    fake.setScenario({ states: ['PENDING'] });
    const provider = adapter();
    const { taskId } = await provider.submit({
      kind: 'video',
      model: 'wan-t2v-turbo',
      prompt: 'a paper boat in the rain',
      n: 1,
      durationSeconds: 5,
      resolution: '720p',
    });
    const submitted = fake.requests.find((r) => r.method === 'POST');
    expect(submitted?.path).toBe('/api/v1/services/aigc/video-generation/video-synthesis');
    expect(lastBody()).toMatchObject({
      model: 'wanx2.1-t2v-turbo',
      parameters: { size: '1280*720', duration: 5 },
    });
    const final = (await pollToEnd(provider, taskId)).at(-1);
    expect(final?.state).toBe('succeeded');
    const first = final?.results?.[0];
    const url = first && 'url' in first ? first.url : '';
    const info = parseMp4(Buffer.from(await (await fetch(url)).arrayBuffer()));
    expect([info.width, info.height]).toEqual([1280, 720]);
  });

  it('submits image-to-video with img_url and an upper-case resolution', async () => {
    const provider = adapter();
    await provider.submit({
      kind: 'video',
      model: 'wan-i2v-plus',
      prompt: 'the cat turns its head',
      n: 1,
      resolution: '480p',
      durationSeconds: 5,
      imageUrl: 'https://bucket.example.com/outputs/u1/cat.png?Signature=abc',
    });
    expect(lastBody()).toMatchObject({
      model: 'wan2.2-i2v-plus',
      input: { img_url: 'https://bucket.example.com/outputs/u1/cat.png?Signature=abc' },
      parameters: { resolution: '480P', duration: 5 },
    });
    expect(lastBody().parameters.size).toBeUndefined();
    expect(fake.submissions).toBe(1);
  });

  it('fills in the model defaults (first listed resolution and duration) when the request leaves them out', async () => {
    await adapter().submit({ kind: 'video', model: 'wan-t2v-plus', prompt: 'a comet', n: 1 });
    expect(lastBody()).toMatchObject({
      model: 'wan2.2-t2v-plus',
      parameters: { size: '1920*1080', duration: 5 },
    });
  });

  it('refuses an image-to-video request without an image before calling DashScope', async () => {
    const error = await appError(
      adapter().submit({ kind: 'video', model: 'wan-i2v-plus', prompt: 'p', n: 1 }),
    );
    expect(error.code).toBe('VALIDATION');
    expect(fake.requests).toHaveLength(0);
  });
});

describe('DashScope adapter: task lifecycle', () => {
  it('cancels a PENDING task, after which it polls as canceled', async () => {
    const provider = adapter();
    const { taskId } = await provider.submit(imageRequest());
    await provider.cancel?.(taskId);
    expect(await provider.poll(taskId)).toMatchObject({
      state: 'canceled',
      error: { code: 'PROVIDER_FAILED' },
    });
  });

  it('refuses to cancel a task that is already running', async () => {
    fake.setScenario({ states: ['RUNNING', 'RUNNING'] });
    const provider = adapter();
    const { taskId } = await provider.submit(imageRequest());
    expect((await provider.poll(taskId)).state).toBe('running');
    const error = await appError(provider.cancel?.(taskId) ?? Promise.resolve());
    expect(error.code).toBe('PROVIDER_FAILED');
    expect(error.details?.providerCode).toBe('UnsupportedOperation');
  });

  it('lets another adapter instance resume polling a task without submitting it again', async () => {
    const { taskId } = await adapter().submit(imageRequest());
    const resumed = await pollToEnd(adapter(), taskId);
    expect(resumed.at(-1)?.state).toBe('succeeded');
    expect(fake.submissions).toBe(1);
  });

  it('keeps task queries under the configured rate (a token bucket per adapter)', async () => {
    fake.setScenario({ states: Array(20).fill('RUNNING') });
    const provider = adapter({ queriesPerSecond: 5 });
    const { taskId } = await provider.submit(imageRequest());
    const started = Date.now();
    await Promise.all(Array.from({ length: 10 }, () => provider.poll(taskId)));
    expect(Date.now() - started).toBeGreaterThanOrEqual(800);
    const times = fake.queryTimes;
    // No more than 5 queries plus the bucket's burst land inside any one-second window.
    for (const t of times) expect(times.filter((u) => u >= t && u < t + 1000).length).toBeLessThanOrEqual(10);
    expect(times.length).toBe(10);
  });

  it('suggests poll delays that start at the configured interval and back off', () => {
    const provider = createDashScopeProvider({ apiKey: 'k', baseUrl: 'http://x', pollIntervalMs: 1000 });
    expect(provider.suggestedPollDelayMs?.(0)).toBe(1000);
    expect(provider.suggestedPollDelayMs?.(3)).toBe(2000);
    expect(provider.suggestedPollDelayMs?.(30)).toBe(5000);
  });
});
