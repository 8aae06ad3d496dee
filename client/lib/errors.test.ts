import { createTRPCClient, httpLink, TRPCClientError } from '@trpc/client';
import superjson from 'superjson';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadLocale, translate } from '../i18n/index.tsx';
import { describeError, describeJobError } from './errors.ts';
import { fetchKeepingStatus } from './trpc.ts';

const trpcError = (data: Record<string, unknown> | undefined, message = 'boom') =>
  new TRPCClientError(message, { result: { error: { message, code: -32000, data } } as never });
const en = (key: Parameters<typeof translate>[1], vars?: Record<string, string | number>) =>
  translate('en', key, vars);
const zh = (key: Parameters<typeof translate>[1], vars?: Record<string, string | number>) =>
  translate('zh-CN', key, vars);

describe('describeError', () => {
  beforeAll(() => Promise.all([loadLocale('en'), loadLocale('zh-CN')]));
  it('sends no-credits to the redeem form, with the amount from the reason params', () => {
    const info = describeError(
      trpcError({ appCode: 'INSUFFICIENT_CREDITS', reason: 'NOT_ENOUGH_CREDITS', params: { needed: 18 } }),
      zh,
    );
    expect(info.messageKey).toBe('error.INSUFFICIENT_CREDITS');
    expect(info.action).toEqual({ key: 'error.INSUFFICIENT_CREDITS.action', to: '/credits#redeem' });
    expect(info.detail).toBe('本次需要 18 积分。');
  });

  it('tells a rejected prompt to be edited and keeps the job id', () => {
    const info = describeError(trpcError({ appCode: 'CONTENT_REJECTED', jobId: 'job_1' }), en);
    expect(info.hintKey).toBe('error.CONTENT_REJECTED.action');
    expect(info.jobId).toBe('job_1');
  });

  it('maps zod issues to fields by code and limits, in the user language, ignoring the English message', () => {
    const issues = [
      { code: 'too_small', origin: 'string', minimum: 8, path: ['password'], message: 'Password must be…' },
      { code: 'invalid_format', format: 'email', path: ['email'], message: 'Enter a valid email address' },
      { code: 'too_big', origin: 'number', maximum: 4, path: ['n'], message: 'Too big' },
      { code: 'too_small', origin: 'string', minimum: 1, path: ['prompt'], message: 'Write a prompt' },
    ];
    const info = describeError(trpcError({ appCode: 'VALIDATION', zodIssues: issues }), zh);
    expect(info.fieldErrors).toEqual({
      password: '密码至少需要 8 个字符。',
      email: '请输入有效的邮箱地址。',
      n: '数量不能大于 4。',
      prompt: '请填写提示词。',
    });
    expect(info.detail).not.toMatch(/[A-Za-z]{3,}/);
    expect(
      describeError(trpcError({ appCode: 'VALIDATION', zodIssues: issues }), en).fieldErrors?.password,
    ).toBe('Password must be at least 8 characters.');
  });

  it('translates known reasons and falls back to the appCode sentence, never the server prose', () => {
    const taken = describeError(
      trpcError(
        { appCode: 'VALIDATION', reason: 'EMAIL_TAKEN' },
        'An account with this email already exists',
      ),
      zh,
    );
    expect(taken.detail).toBe('该邮箱已注册。请直接登录，或重置密码。');
    const unknown = describeError(
      trpcError({ appCode: 'VALIDATION', reason: 'SOMETHING_NEW' }, 'Some English sentence'),
      zh,
    );
    expect(unknown.messageKey).toBe('error.VALIDATION');
    expect(unknown.detail).toBeUndefined();
    const notFound = describeError(trpcError({ appCode: 'NOT_FOUND' }, 'Job not found'), zh);
    expect(notFound.detail).toBeUndefined();
  });

  it('says only the precise reason where the general headline would guess wrong', () => {
    const disabled = describeError(trpcError({ appCode: 'CODE_INVALID', reason: 'CODE_DISABLED' }), zh);
    expect(disabled.title).toBe('该兑换码已停用。');
    expect(disabled.detail).toBeUndefined();
    const ghost = describeError(
      trpcError({
        appCode: 'NOT_FOUND',
        reason: 'NO_ACCOUNT_WITH_EMAIL',
        params: { email: 'ghost@example.com' },
      }),
      en,
    );
    expect(ghost.title).toBe('No account uses ghost@example.com.');
    expect(ghost.detail).toBeUndefined();
    // Without a reason the general headline stays.
    const mistyped = describeError(trpcError({ appCode: 'CODE_INVALID' }), zh);
    expect(mistyped.title).toBeUndefined();
    expect(zh(mistyped.messageKey)).toBe('兑换码不存在，请检查是否输错。');
  });

  it('says "greater than" for an exclusive limit (positive amounts), not "at least 0"', () => {
    const issues = [{ code: 'too_small', origin: 'number', minimum: 0, inclusive: false, path: ['amount'] }];
    const info = describeError(trpcError({ appCode: 'VALIDATION', zodIssues: issues }), en);
    expect(info.fieldErrors).toEqual({ amount: 'Amount must be greater than 0.' });
    expect(describeError(trpcError({ appCode: 'VALIDATION', zodIssues: issues }), zh).detail).toBe(
      '数量必须大于 0。',
    );
  });

  it("says a later check's refusal by its reason, not by the issue that comes with it", () => {
    const taken = {
      appCode: 'VALIDATION',
      reason: 'EMAIL_TAKEN',
      zodIssues: [{ code: 'custom', path: ['email'], message: 'taken', params: { check: 'server' } }],
    };
    const info = describeError(trpcError(taken), zh);
    expect(info.fieldErrors).toBeUndefined();
    expect(info.detail).toBe(
      describeError(trpcError({ appCode: 'VALIDATION', reason: 'EMAIL_TAKEN' }), zh).detail,
    );
    expect(info.detail).toBeTruthy();
  });

  it('treats an error without data as a network problem, and unknown codes as ours', () => {
    expect(describeError(trpcError(undefined), en).code).toBe('NETWORK');
    expect(describeError(trpcError({ appCode: 'WHATEVER' }), en).messageKey).toBe('error.INTERNAL');
    expect(describeError(new Error('x'), en).code).toBe('INTERNAL');
  });

  describe('without an answer from the API', () => {
    afterEach(() => vi.unstubAllGlobals());
    /** Calls a mutation through the app's link and fetch, with the network answering `respond`. */
    const failure = async (respond: () => Promise<Response>) => {
      vi.stubGlobal('fetch', respond);
      const client = createTRPCClient<never>({
        links: [httpLink({ url: 'http://app.test/trpc', transformer: superjson, fetch: fetchKeepingStatus })],
      }) as unknown as { any: { call: { mutate: (input: unknown) => Promise<unknown> } } };
      return client.any.call.mutate({}).then(
        () => expect.unreachable(),
        (error: unknown) => error,
      );
    };
    const page = (status: number, body: string | null, type = 'text/html') =>
      failure(async () => new Response(body, { status, headers: body ? { 'content-type': type } : {} }));

    it('blames the connection only when nothing answered', async () => {
      const offline = await failure(() => Promise.reject(new TypeError('Failed to fetch')));
      expect(describeError(offline, en).code).toBe('NETWORK');
      expect(zh(describeError(offline, zh).messageKey)).toBe('无法连接服务器，请检查网络后重试。');
    });

    it('calls a 500 with an HTML or empty body a server problem, in both languages', async () => {
      for (const error of [await page(500, '<html>Internal Server Error</html>'), await page(500, null)]) {
        const info = describeError(error, en);
        expect(info.code).toBe('SERVER_ERROR');
        expect(en(info.messageKey)).toBe('The server had a problem. Try again in a moment.');
        expect(zh(info.messageKey)).toBe('服务器出了问题，请稍后再试。');
      }
    });

    it('says the service is temporarily unavailable for 502, 503 and 504, whatever the body', async () => {
      for (const status of [502, 503, 504]) {
        const info = describeError(await page(status, '<h1>Bad Gateway</h1>'), en);
        expect(info.code).toBe('UNAVAILABLE');
        expect(en(info.messageKey)).toBe('The service is temporarily unavailable. Try again in a moment.');
      }
      // A JSON body that is not the API's: tRPC keeps the response in meta.
      expect(describeError(await page(503, '{"message":"down"}', 'application/json'), zh).code).toBe(
        'UNAVAILABLE',
      );
    });

    it('says the API’s own 503 (its database not answering) as the service being unavailable', async () => {
      const body = JSON.stringify({
        error: {
          json: {
            message: 'The service is briefly unavailable; please try again in a moment',
            code: -32603,
            data: {
              code: 'SERVICE_UNAVAILABLE',
              httpStatus: 503,
              appCode: 'INTERNAL',
              reason: 'UNAVAILABLE',
            },
          },
        },
      });
      const info = describeError(await page(503, body, 'application/json'), zh);
      expect(info.code).toBe('UNAVAILABLE');
      expect(zh(info.messageKey)).toBe('服务暂时不可用，请稍后再试。');
      // A 500 of ours stays a fault of ours.
      const internal = JSON.stringify({
        error: { json: { message: 'x', code: -32603, data: { httpStatus: 500, appCode: 'INTERNAL' } } },
      });
      expect(describeError(await page(500, internal, 'application/json'), en).code).toBe('INTERNAL');
    });

    it('still reads the API’s own errors, which come as JSON', async () => {
      const body = JSON.stringify({
        error: { json: { message: 'x', code: -32600, data: { appCode: 'RATE_LIMITED', httpStatus: 429 } } },
      });
      expect(describeError(await page(429, body, 'application/json'), en).code).toBe('RATE_LIMITED');
    });
  });

  it('describes a failed job from its error view', () => {
    expect(describeJobError({ code: 'PROVIDER_TIMEOUT', message: 'slow' }).messageKey).toBe(
      'error.PROVIDER_TIMEOUT',
    );
    expect(describeJobError(undefined).code).toBe('INTERNAL');
  });
});
