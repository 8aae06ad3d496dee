import { afterEach, describe, expect, it } from 'vitest';
import { type DashScopeFake, startDashScopeFake } from './dashscope-server.ts';
import { type OpenAIFake, startOpenAIFake } from './openai-server.ts';

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (closers.length) await closers.pop()?.();
});

const dashscope = async (): Promise<DashScopeFake> => {
  const fake = await startDashScopeFake();
  closers.push(fake.close);
  return fake;
};
const openai = async (): Promise<OpenAIFake> => {
  const fake = await startOpenAIFake();
  closers.push(fake.close);
  return fake;
};

const IMAGE = '/api/v1/services/aigc/text2image/image-synthesis';
const goodImageBody = {
  model: 'wan2.2-t2i-flash',
  input: { prompt: 'p' },
  parameters: { size: '1024*1024', n: 1 },
};

const post = (url: string, body: unknown, headers: Record<string, string>) =>
  fetch(url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });

describe('DashScope fake speaks the documented wire format', () => {
  it('answers a bad key with the flat 401 InvalidApiKey envelope', async () => {
    const fake = await dashscope();
    const res = await post(fake.url + IMAGE, goodImageBody, {
      Authorization: 'Bearer nope',
      'X-DashScope-Async': 'enable',
    });
    expect(res.status).toBe(401);
    const body = (await res.json()) as Record<string, unknown>;
    expect(Object.keys(body).sort()).toEqual(['code', 'message', 'request_id']);
    expect(body.code).toBe('InvalidApiKey');
    expect(res.headers.get('x-request-id')).toBeTruthy();
  });

  it('refuses a submission without X-DashScope-Async: enable', async () => {
    const fake = await dashscope();
    const res = await post(fake.url + IMAGE, goodImageBody, { Authorization: `Bearer ${fake.apiKey}` });
    expect(res.status).toBe(403);
    expect(await res.json()).toMatchObject({ code: 'AccessDenied' });
    expect(fake.submissions).toBe(0);
  });

  it('validates bodies: an x in the size, a missing model, a missing prompt', async () => {
    const fake = await dashscope();
    const headers = { Authorization: `Bearer ${fake.apiKey}`, 'X-DashScope-Async': 'enable' };
    const badSize = await post(
      fake.url + IMAGE,
      { ...goodImageBody, parameters: { size: '1024x1024' } },
      headers,
    );
    expect(await badSize.json()).toMatchObject({ code: 'InvalidParameter' });
    const noModel = await post(fake.url + IMAGE, { input: { prompt: 'p' } }, headers);
    expect(await noModel.json()).toMatchObject({ code: 'BadRequest.EmptyModel' });
    const noPrompt = await post(fake.url + IMAGE, { model: 'wan2.2-t2i-flash', input: {} }, headers);
    expect(noPrompt.status).toBe(400);
    expect(fake.submissions).toBe(0);
  });

  it('answers an unknown task id with HTTP 200 UNKNOWN and refuses to cancel a finished task', async () => {
    const fake = await dashscope();
    const auth = { Authorization: `Bearer ${fake.apiKey}` };
    const res = await fetch(`${fake.url}/api/v1/tasks/nope`, { headers: auth });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ output: { task_id: 'nope', task_status: 'UNKNOWN' } });

    fake.setScenario({ states: [] });
    const submit = await post(fake.url + IMAGE, goodImageBody, { ...auth, 'X-DashScope-Async': 'enable' });
    const { output } = (await submit.json()) as { output: { task_id: string } };
    await fetch(`${fake.url}/api/v1/tasks/${output.task_id}`, { headers: auth });
    const cancel = await fetch(`${fake.url}/api/v1/tasks/${output.task_id}/cancel`, {
      method: 'POST',
      headers: auth,
    });
    expect(cancel.status).toBe(400);
    expect(await cancel.json()).toMatchObject({ code: 'UnsupportedOperation' });
  });

  it('serves result URLs itself and answers 403 once they are expired', async () => {
    const fake = await dashscope();
    fake.setScenario({ states: [] });
    const auth = { Authorization: `Bearer ${fake.apiKey}` };
    const submit = await post(fake.url + IMAGE, goodImageBody, { ...auth, 'X-DashScope-Async': 'enable' });
    const { output } = (await submit.json()) as { output: { task_id: string } };
    const query = await fetch(`${fake.url}/api/v1/tasks/${output.task_id}`, { headers: auth });
    const body = (await query.json()) as { output: { results: Array<{ url: string }> }; usage: unknown };
    expect(body.usage).toEqual({ image_count: 1 });
    const url = body.output.results[0]?.url ?? '';
    expect(url).toContain('Expires=');
    const ok = await fetch(url);
    expect(ok.status).toBe(200);
    expect(
      Buffer.from(await ok.arrayBuffer())
        .subarray(1, 4)
        .toString(),
    ).toBe('PNG');
    fake.expireResults(true);
    expect((await fetch(url)).status).toBe(403);
  });
});

describe('OpenAI fake speaks the documented wire format', () => {
  const generate = (fake: OpenAIFake, body: unknown) =>
    post(`${fake.url}/v1/images/generations`, body, { Authorization: `Bearer ${fake.apiKey}` });

  it('uses the four-key error envelope and rejects response_format for GPT image models', async () => {
    const fake = await openai();
    const res = await generate(fake, { model: 'gpt-image-1', prompt: 'p', response_format: 'url' });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: Record<string, unknown> };
    expect(Object.keys(body.error).sort()).toEqual(['code', 'message', 'param', 'type']);
    expect(body.error.param).toBe('response_format');
  });

  it('allows only n=1 for dall-e-3 and only listed sizes', async () => {
    const fake = await openai();
    expect((await generate(fake, { model: 'dall-e-3', prompt: 'p', n: 2 })).status).toBe(400);
    expect((await generate(fake, { model: 'dall-e-3', prompt: 'p', size: '1536x1024' })).status).toBe(400);
    expect((await generate(fake, { model: 'dall-e-3', prompt: 'p', size: '1792x1024' })).status).toBe(200);
    expect(fake.submissions).toBe(1);
  });

  it('sends rate-limit headers with a 429', async () => {
    const fake = await openai();
    fake.throttleNext(1);
    const res = await generate(fake, { model: 'gpt-image-1', prompt: 'p' });
    expect(res.status).toBe(429);
    expect(res.headers.get('x-ratelimit-remaining-requests')).toBe('0');
    expect(await res.json()).toMatchObject({ error: { code: 'rate_limit_exceeded' } });
  });
});
