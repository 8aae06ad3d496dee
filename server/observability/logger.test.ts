import { afterEach, describe, expect, it } from 'vitest';
import { logger, routeConsoleToLogger } from '../logger.ts';
import { runInRequest } from './request-context.ts';

describe('logger', () => {
  const lines: string[] = [];
  logger.setSink((line) => lines.push(line));
  const original = { ...console };

  afterEach(() => {
    Object.assign(console, original);
    logger.setFormat('json');
    lines.length = 0;
  });

  it('writes JSON lines that carry the request id of the request they run for', async () => {
    logger.info('outside');
    await runInRequest({ requestId: 'req-1' }, async () => {
      await new Promise((r) => setTimeout(r, 1));
      logger.warn('inside', { jobId: 'j1', error: new Error('boom') });
    });
    const [outside, inside] = lines.map((l) => JSON.parse(l));
    expect(outside.requestId).toBeUndefined();
    expect(inside).toMatchObject({ level: 'warn', msg: 'inside', requestId: 'req-1', jobId: 'j1' });
    expect(inside.error).toMatchObject({ name: 'Error', message: 'boom' });
  });

  it('sends third-party console output through the same logger', () => {
    routeConsoleToLogger();
    console.warn('[urllib:warn] [%s] callback twice!!!', 'GET');
    const entry = JSON.parse(lines[0]!);
    expect(entry).toMatchObject({
      level: 'warn',
      msg: '[urllib:warn] [GET] callback twice!!!',
      source: 'console',
    });
  });

  it('writes readable lines with LOG_FORMAT=pretty', () => {
    logger.setFormat('pretty');
    logger.info('listening', { url: 'http://127.0.0.1:3000' });
    expect(lines[0]).toMatch(/^\d\d:\d\d:\d\d\.\d{3} INFO {2}listening url=http:\/\/127\.0\.0\.1:3000\n$/);
  });
});
