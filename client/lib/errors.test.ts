import { TRPCClientError } from '@trpc/client';
import { describe, expect, it } from 'vitest';
import { describeError, describeJobError } from './errors.ts';

const trpcError = (data: Record<string, unknown> | undefined, message = 'boom') =>
  new TRPCClientError(message, { result: { error: { message, code: -32000, data } } as never });

describe('describeError', () => {
  it('sends no-credits to the redeem form', () => {
    const info = describeError(trpcError({ appCode: 'INSUFFICIENT_CREDITS', httpStatus: 402 }));
    expect(info.messageKey).toBe('error.INSUFFICIENT_CREDITS');
    expect(info.action).toEqual({ key: 'error.INSUFFICIENT_CREDITS.action', to: '/credits#redeem' });
  });

  it('tells a rejected prompt to be edited and keeps the job id', () => {
    const info = describeError(trpcError({ appCode: 'CONTENT_REJECTED', jobId: 'job_1' }));
    expect(info.hintKey).toBe('error.CONTENT_REJECTED.action');
    expect(info.jobId).toBe('job_1');
  });

  it('maps zod issues to fields', () => {
    const info = describeError(
      trpcError({ appCode: 'VALIDATION', zodIssues: [{ path: ['prompt'], message: 'Write a prompt' }] }),
    );
    expect(info.fieldErrors).toEqual({ prompt: 'Write a prompt' });
    expect(info.detail).toBe('prompt: Write a prompt');
  });

  it('treats an error without data as a network problem, and unknown codes as ours', () => {
    expect(describeError(trpcError(undefined)).code).toBe('NETWORK');
    expect(describeError(trpcError({ appCode: 'WHATEVER' })).messageKey).toBe('error.INTERNAL');
    expect(describeError(new Error('x')).code).toBe('INTERNAL');
  });

  it('describes a failed job from its error view', () => {
    expect(describeJobError({ code: 'PROVIDER_TIMEOUT', message: 'slow' }).messageKey).toBe(
      'error.PROVIDER_TIMEOUT',
    );
    expect(describeJobError(undefined).code).toBe('INTERNAL');
  });
});
