import fs from 'node:fs';
import net, { type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type OssServer, startOssServer } from '../../test/oss-server/server.ts';
import { until } from '../../test/pipeline.ts';
import { startServerProcess } from '../../test/server-process.ts';
import { LocalStorage } from './local.ts';
import { OssStorage } from './oss.ts';
import { checkStorageAtStart } from './start-check.ts';

const ACCESS = { accessKeyId: 'start-ak', accessKeySecret: 'start-secret-value', bucket: 'start-bucket' };

/** A logger that keeps its lines. */
function recording() {
  const lines: { level: string; message: string }[] = [];
  const at = (level: string) => (message: string) => {
    lines.push({ level, message });
  };
  return { lines, log: { info: at('info'), warn: at('warn'), error: at('error') } };
}

describe('the storage check at start', () => {
  let oss: OssServer;
  beforeAll(async () => {
    oss = await startOssServer({ dir: fs.mkdtempSync(path.join(os.tmpdir(), 'df-start-check-')), ...ACCESS });
  });
  afterAll(async () => {
    await oss?.close();
  });

  const storage = (overrides: Partial<typeof ACCESS & { endpoint: string }> = {}) =>
    new OssStorage({
      ...ACCESS,
      region: 'oss-cn-hangzhou',
      endpoint: oss.url,
      cname: true,
      urlTtlSeconds: 600,
      ...overrides,
    });

  it('says nothing alarming when OSS takes the settings, and writes nothing', async () => {
    const { lines, log } = recording();
    expect(await checkStorageAtStart(storage(), { prefix: 'outputs', log })).toBe('ok');
    expect(lines.map((l) => l.level)).toEqual(['info']);
    expect(oss.objectKeys()).toEqual([]);
    expect(oss.requests.map((r) => r.method)).toEqual(['HEAD']);
  });

  it('names the variables in one error line when OSS refuses the secret, the key id or the bucket, never the secret', async () => {
    for (const [overrides, code] of [
      [{ accessKeySecret: 'not-the-secret' }, 'SignatureDoesNotMatch'],
      [{ accessKeyId: 'nobody' }, 'InvalidAccessKeyId'],
    ] as const) {
      const { lines, log } = recording();
      expect(await checkStorageAtStart(storage(overrides), { prefix: 'outputs', log })).toBe('refused');
      expect(lines).toHaveLength(1);
      expect(lines[0]!.level).toBe('error');
      expect(lines[0]!.message).toContain(code);
      expect(lines[0]!.message).toMatch(/OSS_ACCESS_KEY_SECRET.*OSS_BUCKET/);
      expect(lines[0]!.message).not.toContain('not-the-secret');
      expect(lines[0]!.message).not.toContain(ACCESS.accessKeySecret);
    }
  });

  it('only warns when OSS does not answer (it may be away for a moment), and skips local storage', async () => {
    const { lines, log } = recording();
    const away = storage({ endpoint: 'http://127.0.0.1:9' });
    expect(await checkStorageAtStart(away, { prefix: 'outputs', log })).toBe('unreachable');
    expect(lines.map((l) => l.level)).toEqual(['warn']);
    // An OSS host that takes the connection and never answers holds the start for the bound, no longer.
    const silent = net.createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const started = Date.now();
      const hung = storage({ endpoint: `http://127.0.0.1:${(silent.address() as AddressInfo).port}` });
      expect(await checkStorageAtStart(hung, { prefix: 'outputs', log, timeoutMs: 300 })).toBe('unreachable');
      expect(Date.now() - started).toBeLessThan(2_000);
      expect(lines.at(-1)!.message).toContain('no answer within 0.3 s');
    } finally {
      silent.close();
    }
    const local = new LocalStorage({
      root: fs.mkdtempSync(path.join(os.tmpdir(), 'df-start-local-')),
      publicPath: '/files',
      secret: 'k'.repeat(32),
      urlTtlSeconds: 600,
    });
    expect(await checkStorageAtStart(local, { prefix: 'outputs', log })).toBe('skipped');
  });

  it('runs when the server process starts: a wrong secret is logged once, and the server still serves', async () => {
    const server = await startServerProcess({
      DATA_DIR: fs.mkdtempSync(path.join(os.tmpdir(), 'df-start-proc-')),
      OSS_BUCKET: ACCESS.bucket,
      OSS_REGION: 'oss-cn-hangzhou',
      OSS_ENDPOINT: oss.url,
      OSS_CNAME: 'true',
      OSS_ACCESS_KEY_ID: ACCESS.accessKeyId,
      OSS_ACCESS_KEY_SECRET: 'a-wrong-secret-value',
      APP_SECRET: 'start-check-secret-start-check-secret',
    });
    try {
      const line = await until(
        async () =>
          server
            .log()
            .split('\n')
            .find((l) => l.includes('storage: OSS refused this server')),
        15_000,
      );
      expect(line).toContain('SignatureDoesNotMatch');
      expect(server.log()).not.toContain('a-wrong-secret-value');
      expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    } finally {
      await server.stop();
    }
  }, 60_000);
});
