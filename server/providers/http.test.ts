import { describe, expect, it } from 'vitest';
import { joinUrl, redact, retryAfterMs, TokenBucket } from './http.ts';

describe('provider HTTP helpers', () => {
  it('redacts the configured key and anything shaped like an OpenAI key', () => {
    expect(redact('bad key abcd1234efgh here', ['abcd1234efgh'])).toBe('bad key *** here');
    expect(redact('Incorrect API key provided: sk-proj-ab***cd.', [])).not.toContain('proj-ab');
  });

  it('joins base URLs with or without the API prefix and trailing slashes', () => {
    expect(joinUrl('https://dashscope.aliyuncs.com', '/api/v1', '/tasks/1')).toBe(
      'https://dashscope.aliyuncs.com/api/v1/tasks/1',
    );
    expect(joinUrl('https://dashscope-intl.aliyuncs.com/api/v1/', '/api/v1', '/tasks/1')).toBe(
      'https://dashscope-intl.aliyuncs.com/api/v1/tasks/1',
    );
    expect(joinUrl('https://api.openai.com/v1', '/v1', '/images/generations')).toBe(
      'https://api.openai.com/v1/images/generations',
    );
  });

  it('reads Retry-After in seconds', () => {
    expect(retryAfterMs(new Headers({ 'retry-after': '3' }))).toBe(3000);
    expect(retryAfterMs(new Headers())).toBeUndefined();
  });

  it('lets a burst through and then paces to the configured rate', async () => {
    const bucket = new TokenBucket(10);
    const started = Date.now();
    for (let i = 0; i < 15; i++) await bucket.take();
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(400);
    expect(elapsed).toBeLessThan(1500);
  });
});
