import { PNG } from 'pngjs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AppError } from '../../shared/errors.ts';
import { type OpenAIFake, startOpenAIFake } from '../../test/fakes/openai-server.ts';
import { createOpenAIProvider, type OpenAIConfig } from './openai.ts';
import type { GenerationRequest, Provider } from './provider.ts';

let fake: OpenAIFake;
beforeEach(async () => {
  fake = await startOpenAIFake();
});
afterEach(async () => {
  await fake.close();
});

const adapter = (over: Partial<OpenAIConfig> = {}): Provider =>
  createOpenAIProvider({
    apiKey: fake.apiKey,
    baseUrl: fake.url,
    retryBaseDelayMs: 5,
    requestTimeoutMs: 5000,
    ...over,
  });

const request = (over: Partial<GenerationRequest> = {}): GenerationRequest => ({
  kind: 'image',
  model: 'gpt-image-1',
  prompt: 'a watercolor map of an imaginary island',
  size: '1536x1024',
  n: 2,
  ...over,
});

const appError = async (promise: Promise<unknown>): Promise<AppError> => {
  try {
    await promise;
  } catch (error) {
    if (error instanceof AppError) return error;
    throw error;
  }
  throw new Error('expected an AppError');
};

const lastBody = () => fake.requests.at(-1)?.body as Record<string, unknown>;

describe('OpenAI adapter', () => {
  it('turns gpt-image-1 base64 answers into PNG bytes, immediately', async () => {
    const provider = adapter();
    const { taskId, immediate } = await provider.submit(request());
    expect(fake.requests[0]?.path).toBe('/v1/images/generations');
    expect(lastBody()).toEqual({ model: 'gpt-image-1', prompt: request().prompt, n: 2, size: '1536x1024' });
    expect(immediate?.state).toBe('succeeded');
    expect(immediate?.results).toHaveLength(2);
    const first = immediate?.results?.[0];
    if (!first || !('bytes' in first)) throw new Error('expected bytes');
    expect(first.contentType).toBe('image/png');
    const png = PNG.sync.read(Buffer.from(first.bytes));
    expect(png.width).toBeGreaterThan(0);
    expect(immediate?.usage?.total_tokens).toBe(1300);
    // A poll right after submit finds the same finished result.
    expect((await provider.poll(taskId)).state).toBe('succeeded');
  });

  it('asks dall-e-3 for URLs and returns them as url results that can be downloaded', async () => {
    const { immediate } = await adapter().submit(request({ model: 'dall-e-3', n: 1, size: '1792x1024' }));
    expect(lastBody()).toMatchObject({ model: 'dall-e-3', response_format: 'url', n: 1 });
    const first = immediate?.results?.[0];
    if (!first || !('url' in first)) throw new Error('expected a url');
    const download = await fetch(first.url);
    expect(download.status).toBe(200);
    expect(download.headers.get('content-type')).toBe('image/png');
    fake.expireResults(true);
    expect((await fetch(first.url)).status).toBe(403);
  });

  it('counts missing images as failed (partial success)', async () => {
    fake.setOutcome('short');
    const { immediate } = await adapter().submit(request({ n: 3, size: '1024x1024' }));
    expect(immediate?.results).toHaveLength(2);
    expect(immediate?.failedCount).toBe(1);
  });

  it('answers unknown when polled for a task it does not hold (e.g. after a restart)', async () => {
    const result = await adapter().poll('openai-not-here');
    expect(result).toMatchObject({ state: 'unknown', error: { code: 'PROVIDER_FAILED' } });
  });

  it('maps moderation_blocked (gpt-image) and content_policy_violation (dall-e) to CONTENT_REJECTED', async () => {
    fake.setOutcome('moderation');
    expect((await appError(adapter().submit(request()))).code).toBe('CONTENT_REJECTED');
    const dalle = await appError(adapter().submit(request({ model: 'dall-e-3', n: 1, size: '1024x1024' })));
    expect(dalle.code).toBe('CONTENT_REJECTED');
    expect(dalle.details?.providerCode).toBe('content_policy_violation');
  });

  it('maps a bad key to PROVIDER_FAILED without echoing any part of the key', async () => {
    const error = await appError(adapter({ apiKey: 'sk-proj-secretvalue9876' }).submit(request()));
    expect(error.code).toBe('PROVIDER_FAILED');
    expect(error.message).not.toMatch(/secret|9876|sk-proj/);
    expect(fake.submissions).toBe(0);
  });

  it('maps a 5xx to PROVIDER_FAILED without repeating the call', async () => {
    fake.setOutcome('server-error');
    const error = await appError(adapter().submit(request()));
    expect(error.code).toBe('PROVIDER_FAILED');
    expect(fake.requests).toHaveLength(1);
  });

  it('retries 429 with backoff and then succeeds, generating once', async () => {
    fake.throttleNext(2);
    const { immediate } = await adapter().submit(request());
    expect(immediate?.state).toBe('succeeded');
    expect(fake.requests).toHaveLength(3);
    expect(fake.submissions).toBe(1);
  });

  it('surfaces RATE_LIMITED with the Retry-After delay when 429 persists', async () => {
    fake.throttleNext(10, 1);
    const started = Date.now();
    const error = await appError(adapter({ maxRetries: 1 }).submit(request()));
    expect(error.code).toBe('RATE_LIMITED');
    expect(error.retryAfterMs).toBe(1000);
    expect(fake.requests).toHaveLength(2);
    // The one retry waited for Retry-After rather than the 5 ms backoff.
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
  });

  it('turns a hanging call into PROVIDER_TIMEOUT', async () => {
    fake.hangNext(1, 2000);
    const error = await appError(adapter({ requestTimeoutMs: 150 }).submit(request()));
    expect(error.code).toBe('PROVIDER_TIMEOUT');
  });

  it('rejects models of other providers without calling OpenAI', async () => {
    const error = await appError(adapter().submit(request({ model: 'wan-t2i-flash' })));
    expect(error.code).toBe('VALIDATION');
    expect(fake.requests).toHaveLength(0);
  });
});
