import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { demoEnabled, parseEnv } from './env.ts';

describe('configuration', () => {
  it('starts on embedded defaults with nothing set', () => {
    const env = parseEnv({});
    expect(env).toMatchObject({
      PORT: 3000,
      HOST: '127.0.0.1',
      OSS_PREFIX: 'outputs',
      OSS_URL_TTL_SECONDS: 3600,
    });
    expect(env.DATABASE_URL).toBeUndefined();
    expect(demoEnabled(env)).toBe(true);
    expect(env.SIGNUP_BONUS_CREDITS).toBe(100);
  });

  it('turns the demo off by default once a real provider is configured, unless asked', () => {
    expect(demoEnabled(parseEnv({ DASHSCOPE_API_KEY: 'sk-1' }))).toBe(false);
    expect(demoEnabled(parseEnv({ DASHSCOPE_API_KEY: 'sk-1', DEMO_PROVIDER: 'true' }))).toBe(true);
  });

  it('names each bad variable', () => {
    expect(() => parseEnv({ PORT: 'abc' })).toThrow(/PORT/);
    expect(() => parseEnv({ WORKER_CONCURRENCY: '0' })).toThrow(/WORKER_CONCURRENCY/);
    expect(() => parseEnv({ ROLE: 'boss' })).toThrow(/ROLE/);
    expect(() => parseEnv({ OSS_CNAME: 'maybe' })).toThrow(/OSS_CNAME/);
    expect(() => parseEnv({ OSS_BUCKET: 'b' })).toThrow(/OSS_BUCKET/);
  });

  it('stops `DATABASE_URL=nonsense` at start with a non-zero exit naming DATABASE_URL', () => {
    const run = spawnSync(process.execPath, ['--import', 'tsx', 'server/index.ts'], {
      env: { ...process.env, DATABASE_URL: 'nonsense', PORT: '0' },
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(run.status).not.toBe(0);
    expect(run.status).not.toBeNull();
    expect(run.stderr).toContain('DATABASE_URL');
    expect(run.stderr).not.toMatch(/\n\s+at /);
  });
});
