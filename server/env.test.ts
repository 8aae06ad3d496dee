import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { demoEnabled, parseEnv } from './env.ts';
import { objectKey } from './storage/keys.ts';

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

  it('takes an empty value as unset, for the choices and the prefix too', () => {
    const env = parseEnv({ ROLE: '', LOG_LEVEL: ' ', LOG_FORMAT: '', OSS_PREFIX: '' });
    expect(env).toMatchObject({ ROLE: 'all', LOG_LEVEL: 'info', LOG_FORMAT: 'json', OSS_PREFIX: 'outputs' });
    expect(parseEnv({ ROLE: 'worker', LOG_FORMAT: 'pretty' })).toMatchObject({
      ROLE: 'worker',
      LOG_FORMAT: 'pretty',
    });
    expect(() => parseEnv({ LOG_LEVEL: 'loud' })).toThrow(/LOG_LEVEL/);
  });

  it('names each bad variable', () => {
    expect(() => parseEnv({ PORT: 'abc' })).toThrow(/PORT/);
    expect(() => parseEnv({ WORKER_CONCURRENCY: '0' })).toThrow(/WORKER_CONCURRENCY/);
    expect(() => parseEnv({ ROLE: 'boss' })).toThrow(/ROLE/);
    expect(() => parseEnv({ OSS_CNAME: 'maybe' })).toThrow(/OSS_CNAME/);
    expect(() => parseEnv({ OSS_BUCKET: 'bucket-b' })).toThrow(/OSS_BUCKET/);
    expect(() =>
      parseEnv({ OSS_BUCKET: 'Bad_Bucket!', OSS_ACCESS_KEY_ID: 'ak', OSS_ACCESS_KEY_SECRET: 'sk' }),
    ).toThrow(/OSS_BUCKET: must be a bucket name/);
    expect(() => parseEnv({ ADMIN_EMAILS: 'boss@example.com, not-an-email' })).toThrow(
      /ADMIN_EMAILS: not an email address: not-an-email/,
    );
    expect(parseEnv({ ADMIN_EMAILS: ' Boss@Example.com ,' }).ADMIN_EMAILS).toEqual(['boss@example.com']);
  });

  it('takes an OSS_PREFIX only when object keys can be made with it, and names OSS_PREFIX otherwise', () => {
    const key = (prefix: string) =>
      objectKey({ prefix, userId: 'u1', jobId: 'j1', index: 0, ext: 'png', date: new Date(0) });
    for (const ok of ['outputs', 'team-1/out_put', 'a/b/c']) {
      expect(parseEnv({ OSS_PREFIX: ok }).OSS_PREFIX).toBe(ok);
      expect(key(ok)).toBe(`${ok}/u1/1970/01/01/j1/0.png`);
    }
    for (const bad of ['a//b', 'a/', '/a', 'a b', 'out.v2'])
      expect(() => parseEnv({ OSS_PREFIX: bad }), bad).toThrow(/OSS_PREFIX/);
  });

  it('takes TRUST_PROXY as express does, and refuses what its proxy-addr would throw on later', () => {
    for (const ok of ['true', '1', 'loopback', 'loopback, 10.0.0.0/8', '192.168.1.5', '::1/128'])
      expect(parseEnv({ TRUST_PROXY: ok }).TRUST_PROXY).toBe(ok);
    expect(() => parseEnv({ TRUST_PROXY: 'garbage' })).toThrow(/TRUST_PROXY: .*not: garbage/);
    for (const none of ['false', '0', ''])
      expect(parseEnv({ TRUST_PROXY: none }).TRUST_PROXY).toBeUndefined();
    expect(() => parseEnv({ TRUST_PROXY: 'loopback,10.0.0.0/x' })).toThrow(/TRUST_PROXY/);
  });

  it('takes an empty HOST as unset (127.0.0.1), never as every interface', () => {
    expect(parseEnv({ HOST: '' }).HOST).toBe('127.0.0.1');
    expect(parseEnv({ HOST: '  ' }).HOST).toBe('127.0.0.1');
    expect(parseEnv({ HOST: '0.0.0.0' }).HOST).toBe('0.0.0.0');
  });

  it('takes an IP address or a host name as HOST, and names HOST for anything else', () => {
    for (const ok of ['::', '::1', '10.0.0.5', 'localhost', 'app-1.internal', 'dream.example.com'])
      expect(parseEnv({ HOST: ok }).HOST).toBe(ok);
    for (const bad of ['not a host!', 'http://localhost', 'localhost:3000', '-bad.example', '[::1]'])
      expect(() => parseEnv({ HOST: bad }), bad).toThrow(/HOST: must be an IP address or a host name/);
  });

  it('takes an empty DATA_DIR as unset (./data), never as the working directory', () => {
    expect(parseEnv({ DATA_DIR: '' }).DATA_DIR).toBe(path.resolve('data'));
    expect(parseEnv({ DATA_DIR: ' ' }).DATA_DIR).toBe(path.resolve('data'));
    expect(parseEnv({}).DATA_DIR).toBe(path.resolve('data'));
    expect(parseEnv({ DATA_DIR: '/srv/dream' }).DATA_DIR).toBe('/srv/dream');
  });

  describe('OSS', () => {
    const keys = { OSS_BUCKET: 'bucket-b', OSS_ACCESS_KEY_ID: 'ak', OSS_ACCESS_KEY_SECRET: 'sk' };

    it('signs with V4 by default and takes the key pair, static STS or the ECS RAM role', () => {
      const env = parseEnv({ ...keys, OSS_REGION: 'oss-cn-hangzhou' });
      expect(env).toMatchObject({ OSS_SIGNATURE_VERSION: 4, OSS_URL_TTL_SECONDS: 3600 });
      expect(
        parseEnv({ ...keys, OSS_REGION: 'oss-cn-hangzhou', OSS_SECURITY_TOKEN: 'tok' }).OSS_SECURITY_TOKEN,
      ).toBe('tok');
      const ecs = parseEnv({
        OSS_BUCKET: 'bucket-b',
        OSS_REGION: 'oss-cn-hangzhou',
        OSS_ECS_RAM_ROLE: 'DreamFactoryOss',
        OSS_INTERNAL_ENDPOINT: 'https://oss-cn-hangzhou-internal.aliyuncs.com',
        OSS_URL_TTL_SECONDS: '604800',
      });
      expect(ecs).toMatchObject({ OSS_ECS_RAM_ROLE: 'DreamFactoryOss', OSS_URL_TTL_SECONDS: 604800 });
      // V1 for an old bucket: an endpoint without a region still works, and a longer TTL is allowed.
      expect(
        parseEnv({
          ...keys,
          OSS_SIGNATURE_VERSION: '1',
          OSS_ENDPOINT: 'https://x.example.com',
          OSS_URL_TTL_SECONDS: '1209600',
        }),
      ).toMatchObject({ OSS_SIGNATURE_VERSION: 1, OSS_URL_TTL_SECONDS: 1209600 });
    });

    it.each([
      [{ ...keys }, /OSS_REGION: Signature V4/],
      [
        { ...keys, OSS_ENDPOINT: 'https://media.example.com' },
        /OSS_REGION: .*OSS_ENDPOINT alone is not enough/,
      ],
      [
        { ...keys, OSS_REGION: 'oss-cn-hangzhou', OSS_URL_TTL_SECONDS: '604801' },
        /OSS_URL_TTL_SECONDS: .*7 days/,
      ],
      [
        { ...keys, OSS_REGION: 'oss-cn-hangzhou', OSS_ECS_RAM_ROLE: 'r' },
        /OSS_ECS_RAM_ROLE: use the instance RAM role or static keys/,
      ],
      [{ OSS_BUCKET: 'bucket-b', OSS_REGION: 'oss-cn-hangzhou' }, /OSS_BUCKET: OSS needs credentials/],
      [
        { OSS_BUCKET: 'bucket-b', OSS_REGION: 'oss-cn-hangzhou', OSS_SECURITY_TOKEN: 't' },
        /OSS_SECURITY_TOKEN: a security token needs/,
      ],
      [
        { ...keys, OSS_REGION: 'oss-cn-hangzhou', OSS_ACCESS_KEY_SECRET: '' },
        /OSS_ACCESS_KEY_SECRET: .*go together/,
      ],
      [{ OSS_ACCESS_KEY_ID: 'ak', OSS_ACCESS_KEY_SECRET: 'sk' }, /OSS_BUCKET: OSS settings are given/],
      [{ OSS_ECS_RAM_ROLE: 'r' }, /OSS_BUCKET: OSS settings are given/],
      [{ ...keys, OSS_REGION: 'cn-hangzhou' }, /OSS_REGION: must be a region as ali-oss takes it/],
      [
        { ...keys, OSS_REGION: 'oss-cn-hangzhou', OSS_SIGNATURE_VERSION: '2' },
        /OSS_SIGNATURE_VERSION: must be 4/,
      ],
      [{ ...keys, OSS_SIGNATURE_VERSION: '1' }, /OSS_REGION: set OSS_REGION \(or OSS_ENDPOINT\)/],
      [
        {
          ...keys,
          OSS_REGION: 'oss-cn-hangzhou',
          OSS_ENDPOINT: 'https://oss-cn-hangzhou-internal.aliyuncs.com',
        },
        /OSS_ENDPOINT: an -internal endpoint cannot be reached by browsers/,
      ],
      [{ OSS_URL_TTL_SECONDS: '2592001' }, /OSS_URL_TTL_SECONDS/],
    ])('refuses %j at start, naming the variable', (vars, message) => {
      expect(() => parseEnv(vars as Record<string, string>)).toThrow(message);
    });
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
