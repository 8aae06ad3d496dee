/**
 * A fake OpenAI Images server (`POST /v1/images/generations`) following the wire-format reference
 * (shared/reference/providers.md §5 and the §7 checklist): bearer auth, request validation per model,
 * base64 answers for gpt-image-*, self-served URLs for dall-e-*, the `{error:{message,type,param,code}}`
 * envelope, and toggles for throttling, 5xx, hangs, moderation and expired URLs.
 */
import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { hashSeed, renderDemoPng } from '../../server/providers/demo-media.ts';
import { Countdown, listen, type RecordedRequest, readBody, sendBytes, sendJson } from './http-util.ts';

export type OpenAIOutcome = 'success' | 'moderation' | 'server-error' | 'short';

export interface OpenAIFake {
  url: string;
  apiKey: string;
  /** Generations performed (200 answers). */
  readonly submissions: number;
  readonly requests: RecordedRequest[];
  /** 'short' answers one image fewer than asked. */
  setOutcome(outcome: OpenAIOutcome): void;
  /** The next `times` requests get 429 rate_limit_exceeded (with Retry-After when given). */
  throttleNext(times: number, retryAfterSeconds?: number): void;
  /** The next `times` requests get this status with a server_error body. */
  failNext(times: number, status?: number): void;
  /** The next `times` requests get no answer for `ms` (then a normal one). */
  hangNext(times: number, ms?: number): void;
  /** dall-e URLs answer 403 (as an expired Azure blob SAS does). */
  expireResults(expired: boolean): void;
  close(): Promise<void>;
}

const SIZES: Record<string, string[]> = {
  'dall-e-3': ['1024x1024', '1792x1024', '1024x1792'],
  'dall-e-2': ['256x256', '512x512', '1024x1024'],
  gpt: ['1024x1024', '1536x1024', '1024x1536', 'auto'],
};

const envelope = (message: string, type: string, param: string | null, code: string | null) => ({
  error: { message, type, param, code },
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export const startOpenAIFake = async (options: { apiKey?: string } = {}): Promise<OpenAIFake> => {
  const apiKey = options.apiKey ?? `sk-fake-openai-${randomUUID()}`;
  const requests: RecordedRequest[] = [];
  const throttle = new Countdown<{ retryAfterSeconds?: number }>();
  const fail = new Countdown<number>();
  const hang = new Countdown<number>();
  const files = new Map<string, Buffer>();
  let outcome: OpenAIOutcome = 'success';
  let submissions = 0;
  let expired = false;
  let baseUrl = '';

  const invalid = (res: ServerResponse, message: string, param: string | null, code: string | null) =>
    sendJson(res, 400, envelope(message, 'invalid_request_error', param, code));

  const generate = (res: ServerResponse, raw: string) => {
    let body: Record<string, any>;
    try {
      body = JSON.parse(raw);
    } catch {
      return invalid(res, 'We could not parse the JSON body of your request.', null, null);
    }
    if (typeof body.prompt !== 'string' || !body.prompt) {
      return invalid(res, "Missing required parameter: 'prompt'.", 'prompt', 'missing_required_parameter');
    }
    const model = String(body.model ?? 'dall-e-2');
    const isGpt = model.startsWith('gpt-image');
    if (!isGpt && !model.startsWith('dall-e')) {
      return invalid(res, `The model '${model}' does not exist.`, 'model', 'model_not_found');
    }
    if (isGpt && body.response_format !== undefined) {
      return invalid(res, "Unknown parameter: 'response_format'.", 'response_format', 'unknown_parameter');
    }
    const n = body.n === undefined ? 1 : Number(body.n);
    if (!Number.isInteger(n) || n < 1 || n > 10 || (model === 'dall-e-3' && n !== 1)) {
      return invalid(res, `Invalid 'n': ${body.n}.`, 'n', 'invalid_value');
    }
    const size = String(body.size ?? (isGpt ? 'auto' : '1024x1024'));
    const allowed = SIZES[isGpt ? 'gpt' : model] ?? [];
    if (!allowed.includes(size)) {
      return invalid(
        res,
        `Invalid value: '${size}'. Supported values are: ${allowed.join(', ')}.`,
        'size',
        'invalid_value',
      );
    }
    if (outcome === 'moderation') {
      return isGpt
        ? sendJson(
            res,
            400,
            envelope(
              'Your request was rejected by the safety system. If you believe this is an error, contact us.',
              'image_generation_user_error',
              null,
              'moderation_blocked',
            ),
          )
        : invalid(
            res,
            'Your request was rejected as a result of our safety system. Your prompt may contain text that is not allowed by our safety system.',
            null,
            'content_policy_violation',
          );
    }
    if (outcome === 'server-error') {
      return sendJson(
        res,
        500,
        envelope('The server had an error while processing your request.', 'server_error', null, null),
      );
    }
    submissions++;
    const [w, h] = (size === 'auto' ? '1024x1024' : size).split('x').map(Number);
    const count = outcome === 'short' ? n - 1 : n;
    const created = Math.floor(Date.now() / 1000);
    const data = Array.from({ length: count }, (_, index) => {
      // Small images keep the fake fast; the adapter does not care about the pixels.
      const bytes = renderDemoPng(
        Math.round((w ?? 1024) / 8),
        Math.round((h ?? 1024) / 8),
        hashSeed(`${body.prompt}:${index}`),
      );
      if (isGpt) return { b64_json: bytes.toString('base64') };
      const id = randomUUID();
      files.set(id, bytes);
      return {
        url: `${baseUrl}/files/${id}.png?se=${encodeURIComponent(new Date(Date.now() + 3_600_000).toISOString())}&sig=${randomUUID()}`,
        revised_prompt: `A detailed rendering of ${body.prompt}`,
      };
    });
    return sendJson(
      res,
      200,
      isGpt
        ? {
            created,
            data,
            background: 'opaque',
            output_format: 'png',
            size,
            quality: 'medium',
            usage: {
              total_tokens: 1300,
              input_tokens: 20,
              output_tokens: 1280,
              input_tokens_details: { text_tokens: 20, image_tokens: 0 },
            },
          }
        : { created, data },
    );
  };

  const server = await listen(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://fake');
    const raw = req.method === 'POST' ? await readBody(req) : '';
    let parsed: unknown = raw;
    try {
      parsed = raw ? JSON.parse(raw) : undefined;
    } catch {}
    requests.push({
      method: req.method ?? 'GET',
      path: url.pathname,
      headers: { ...req.headers },
      body: parsed,
    });

    const file = /^\/files\/([^/]+)\.png$/.exec(url.pathname);
    if (file && req.method === 'GET') {
      const bytes = files.get(file[1] ?? '');
      if (expired || !bytes) {
        res.writeHead(403, { 'content-type': 'application/xml' });
        return res.end('<?xml version="1.0"?><Error><Code>AuthenticationFailed</Code></Error>');
      }
      return sendBytes(res, 'image/png', bytes);
    }

    const hangMs = hang.take();
    if (hangMs !== undefined) await sleep(hangMs);
    const auth = req.headers.authorization ?? '';
    if (auth !== `Bearer ${apiKey}`) {
      const given = auth.replace(/^Bearer\s+/, '');
      // Like the real API, the message echoes a masked form of the key (the adapter must not pass it on).
      const masked = given.length > 8 ? `${given.slice(0, 6)}***${given.slice(-4)}` : given;
      return sendJson(
        res,
        401,
        envelope(
          `Incorrect API key provided: ${masked}. You can find your API key at https://platform.openai.com/account/api-keys.`,
          'invalid_request_error',
          null,
          'invalid_api_key',
        ),
      );
    }
    const throttled = throttle.take();
    if (throttled) {
      return sendJson(
        res,
        429,
        envelope(
          'Rate limit exceeded for images per minute in organization org-fake. Limit: 5/1min. Current: 6/1min.',
          'requests',
          null,
          'rate_limit_exceeded',
        ),
        {
          'x-ratelimit-limit-requests': '5',
          'x-ratelimit-remaining-requests': '0',
          'x-ratelimit-reset-requests': '12s',
          ...(throttled.retryAfterSeconds === undefined
            ? {}
            : { 'retry-after': String(throttled.retryAfterSeconds) }),
        },
      );
    }
    const status = fail.take();
    if (status !== undefined) {
      return sendJson(
        res,
        status,
        envelope('The server had an error while processing your request.', 'server_error', null, null),
      );
    }
    if (req.method === 'POST' && url.pathname === '/v1/images/generations') return generate(res, raw);
    return sendJson(
      res,
      404,
      envelope(`Invalid URL (${req.method} ${url.pathname})`, 'invalid_request_error', null, null),
    );
  });
  baseUrl = server.url;

  return {
    url: server.url,
    apiKey,
    get submissions() {
      return submissions;
    },
    requests,
    setOutcome: (next) => {
      outcome = next;
    },
    throttleNext: (times, retryAfterSeconds) => throttle.arm(times, { retryAfterSeconds }),
    failNext: (times, status = 500) => fail.arm(times, status),
    hangNext: (times, ms = 5000) => hang.arm(times, ms),
    expireResults: (value) => {
      expired = value;
    },
    close: server.close,
  };
};
