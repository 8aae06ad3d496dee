import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AppError } from '../../shared/errors.ts';
import { type OssServer, startOssServer } from '../../test/oss-server/server.ts';
import { OssStorage, type OssStorageOptions } from './oss.ts';

const credentials = { accessKeyId: 'storage-ak', accessKeySecret: 'storage-secret' };
const bucket = 'df-test';
const KB = 1024;

let dir: string;
let files: string;
let server: OssServer;

const storage = (overrides: Partial<OssStorageOptions> = {}) =>
  new OssStorage({
    bucket,
    region: 'oss-cn-hangzhou',
    endpoint: server.url,
    cname: true,
    ...credentials,
    urlTtlSeconds: 600,
    timeoutMs: 5_000,
    retries: 3,
    retryBaseDelayMs: 10,
    // Small parts so the multipart path runs on small files.
    partSizeBytes: 100 * KB,
    multipartThresholdBytes: 256 * KB,
    ...overrides,
  });

const makeFile = async (name: string, size: number): Promise<string> => {
  const path = join(files, name);
  const data = Buffer.alloc(size);
  for (let i = 0; i < size; i += 1) data[i] = (i * 31) % 251;
  await writeFile(path, data);
  return path;
};

const sha256Of = async (source: Readable) => {
  const hash = createHash('sha256');
  await pipeline(source, hash);
  return hash.digest('hex');
};
const sha256OfFile = (path: string) => sha256Of(createReadStream(path));
const sha256OfStored = (key: string) => sha256Of(server.readObject(key));

const attempts = (operation: string) => server.requests.filter((r) => r.operation === operation).length;

const expectNothingLeft = (key: string) => {
  expect(server.objectKeys()).not.toContain(key);
  expect(server.listMultipartUploads()).toEqual([]);
};

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'oss-storage-test-'));
  files = await mkdtemp(join(tmpdir(), 'oss-storage-files-'));
  server = await startOssServer({ dir, bucket, ...credentials });
});

afterAll(async () => {
  await server.close();
  await rm(dir, { recursive: true, force: true });
  await rm(files, { recursive: true, force: true });
});

beforeEach(() => {
  server.faults.clear();
  server.requests.length = 0;
});
afterEach(() => server.faults.clear());

describe('OssStorage against the OSS test server', () => {
  it('puts a small file with its content type, heads, signs and deletes it', async () => {
    const oss = storage();
    const path = await makeFile('small.png', 10 * KB);
    const progress: number[] = [];
    const stored = await oss.put({
      key: 'outputs/u1/2026/01/02/j1/0.png',
      filePath: path,
      contentType: 'image/png',
      size: 10 * KB,
      onProgress: (done) => progress.push(done),
    });
    expect(stored).toEqual({
      key: 'outputs/u1/2026/01/02/j1/0.png',
      url: `${server.url}/outputs/u1/2026/01/02/j1/0.png`,
      size: 10 * KB,
      contentType: 'image/png',
    });
    expect(attempts('PutObject')).toBe(1);
    expect(progress.at(-1)).toBe(10 * KB);
    expect(await oss.head(stored.key)).toEqual({ size: 10 * KB, contentType: 'image/png' });

    const signed = oss.urlFor(stored.key);
    expect(signed).toContain('Signature=');
    const res = await fetch(signed);
    expect(res.status).toBe(200);
    expect(Buffer.from(await res.arrayBuffer()).length).toBe(10 * KB);

    const download = oss.urlFor(stored.key, { download: 'cat.png' });
    const dl = await fetch(download);
    expect(dl.headers.get('content-disposition')).toContain('attachment; filename="cat.png"');

    expect(decodeURIComponent(oss.urlFor(stored.key, { thumbnail: 'image' }))).toContain(
      'x-oss-process=image/resize,w_512',
    );
    expect(decodeURIComponent(oss.urlFor(stored.key, { thumbnail: 'video' }))).toContain(
      'x-oss-process=video/snapshot,t_1000,f_jpg,w_512',
    );
    expect((await fetch(oss.urlFor(stored.key, { thumbnail: 'image' }))).status).toBe(200);

    await oss.delete(stored.key);
    expect(await oss.head(stored.key)).toBeNull();
    await oss.delete(stored.key); // idempotent
  });

  it('uses the public base URL instead of signing when one is configured', () => {
    const oss = storage({ publicBaseUrl: 'https://cdn.example.com/' });
    expect(oss.canonicalUrl('outputs/a b.png')).toBe('https://cdn.example.com/outputs/a%20b.png');
    expect(oss.urlFor('outputs/a.png')).toBe('https://cdn.example.com/outputs/a.png');
    expect(oss.urlFor('outputs/a.png', { thumbnail: 'image' })).toBe(
      'https://cdn.example.com/outputs/a.png?x-oss-process=image%2Fresize%2Cw_512',
    );
  });

  it('derives the canonical URL from region or endpoint', () => {
    const byRegion = new OssStorage({
      bucket: 'bkt1',
      region: 'oss-cn-shanghai',
      cname: false,
      ...credentials,
      urlTtlSeconds: 60,
    });
    expect(byRegion.canonicalUrl('outputs/x.png')).toBe(
      'https://bkt1.oss-cn-shanghai.aliyuncs.com/outputs/x.png',
    );
    expect(byRegion.urlFor('outputs/x.png')).toMatch(
      /^https:\/\/bkt1\.oss-cn-shanghai\.aliyuncs\.com\/outputs\/x\.png\?OSSAccessKeyId=storage-ak&Expires=\d+&Signature=/,
    );
  });

  it('uploads large files with multipartUpload and reports progress', async () => {
    const oss = storage();
    const path = await makeFile('multi.bin', 450 * KB);
    const progress: number[] = [];
    await oss.put({
      key: 'outputs/multi.mp4',
      filePath: path,
      contentType: 'video/mp4',
      size: 450 * KB,
      onProgress: (done) => progress.push(done),
    });
    expect(attempts('UploadPart')).toBe(5);
    expect(attempts('PutObject')).toBe(0);
    expect(progress.at(-1)).toBe(450 * KB);
    expect(await oss.head('outputs/multi.mp4')).toEqual({ size: 450 * KB, contentType: 'video/mp4' });
    expect(await sha256OfStored('outputs/multi.mp4')).toBe(await sha256OfFile(path));
    expect(server.listMultipartUploads()).toEqual([]);
  });

  it('uploads a 200 MB file in 8 MB parts from disk', async () => {
    const path = join(files, 'big.bin');
    const chunk = Buffer.alloc(1024 * 1024);
    for (let i = 0; i < chunk.length; i += 1) chunk[i] = i % 253;
    await pipeline(async function* () {
      for (let i = 0; i < 200; i += 1) {
        chunk[0] = i;
        yield chunk;
      }
    }, createWriteStream(path));
    const oss = storage({ partSizeBytes: 8 * 1024 * 1024, multipartThresholdBytes: 16 * 1024 * 1024 });
    try {
      await oss.put({
        key: 'outputs/big.mp4',
        filePath: path,
        contentType: 'video/mp4',
        size: 200 * 1024 * 1024,
      });
      expect(attempts('UploadPart')).toBe(25);
      expect(await oss.head('outputs/big.mp4')).toEqual({
        size: 200 * 1024 * 1024,
        contentType: 'video/mp4',
      });
      expect(await sha256OfStored('outputs/big.mp4')).toBe(await sha256OfFile(path));
    } finally {
      await rm(path, { force: true });
      await oss.delete('outputs/big.mp4');
    }
  });

  describe('faults', () => {
    const expectUploadFailed = async (promise: Promise<unknown>) => {
      const error = await promise.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(AppError);
      expect((error as AppError).code).toBe('STORAGE_UPLOAD_FAILED');
      expect((error as AppError).message).not.toContain(credentials.accessKeySecret);
    };

    it('retries through 5xx answers and then succeeds', async () => {
      const path = await makeFile('retry.png', 20 * KB);
      server.faults.failNext(2, { status: 503 });
      await storage().put({
        key: 'outputs/retry.png',
        filePath: path,
        contentType: 'image/png',
        size: 20 * KB,
      });
      expect(attempts('PutObject')).toBe(3);
      expect(server.objectKeys()).toContain('outputs/retry.png');
    });

    it('gives STORAGE_UPLOAD_FAILED after persistent 5xx and leaves no object', async () => {
      const path = await makeFile('down.png', 20 * KB);
      server.faults.failNext(Number.POSITIVE_INFINITY, { status: 500, operation: 'PutObject' });
      await expectUploadFailed(
        storage().put({ key: 'outputs/down.png', filePath: path, contentType: 'image/png', size: 20 * KB }),
      );
      expect(attempts('PutObject')).toBe(3);
      expectNothingLeft('outputs/down.png');
    });

    it('gives up on a server that never answers, within the timeout', async () => {
      const path = await makeFile('hang.png', 20 * KB);
      server.faults.hangNext(Number.POSITIVE_INFINITY, { operation: 'PutObject' });
      const started = Date.now();
      await expectUploadFailed(
        storage({ timeoutMs: 300 }).put({
          key: 'outputs/hang.png',
          filePath: path,
          contentType: 'image/png',
          size: 20 * KB,
        }),
      );
      expect(Date.now() - started).toBeLessThan(10_000);
      expect(attempts('PutObject')).toBe(3);
      expectNothingLeft('outputs/hang.png');
    });

    it('aborts the multipart upload when parts hang', async () => {
      const path = await makeFile('hang.mp4', 450 * KB);
      server.faults.hangNext(Number.POSITIVE_INFINITY, { operation: 'UploadPart' });
      await expectUploadFailed(
        storage({ timeoutMs: 300 }).put({
          key: 'outputs/hang.mp4',
          filePath: path,
          contentType: 'video/mp4',
          size: 450 * KB,
        }),
      );
      expect(attempts('AbortMultipartUpload')).toBe(1);
      expectNothingLeft('outputs/hang.mp4');
    });

    it('gives STORAGE_UPLOAD_FAILED when every connection is reset', async () => {
      const path = await makeFile('reset.png', 20 * KB);
      server.faults.resetNext(Number.POSITIVE_INFINITY, { operation: 'PutObject' });
      await expectUploadFailed(
        storage().put({ key: 'outputs/reset.png', filePath: path, contentType: 'image/png', size: 20 * KB }),
      );
      expect(attempts('PutObject')).toBeGreaterThanOrEqual(3);
      expectNothingLeft('outputs/reset.png');
    });

    it('recovers from a reset connection on a retry', async () => {
      const path = await makeFile('reset-once.png', 20 * KB);
      server.faults.resetNext(1);
      await storage().put({
        key: 'outputs/reset-once.png',
        filePath: path,
        contentType: 'image/png',
        size: 20 * KB,
      });
      expect(server.objectKeys()).toContain('outputs/reset-once.png');
    });

    it('aborts the multipart upload when UploadPart keeps failing', async () => {
      const path = await makeFile('parts.mp4', 450 * KB);
      server.faults.failUploadPart(Number.POSITIVE_INFINITY);
      await expectUploadFailed(
        storage().put({ key: 'outputs/parts.mp4', filePath: path, contentType: 'video/mp4', size: 450 * KB }),
      );
      expect(attempts('InitiateMultipartUpload')).toBeGreaterThanOrEqual(1);
      expect(attempts('UploadPart')).toBeGreaterThanOrEqual(3);
      expect(attempts('AbortMultipartUpload')).toBe(1);
      expectNothingLeft('outputs/parts.mp4');
    });

    it('retries failed parts from the same file and completes', async () => {
      const path = await makeFile('parts-ok.mp4', 450 * KB);
      server.faults.failUploadPart(2);
      await storage().put({
        key: 'outputs/parts-ok.mp4',
        filePath: path,
        contentType: 'video/mp4',
        size: 450 * KB,
      });
      expect(await sha256OfStored('outputs/parts-ok.mp4')).toBe(await sha256OfFile(path));
      expect(server.listMultipartUploads()).toEqual([]);
    });
  });
});
