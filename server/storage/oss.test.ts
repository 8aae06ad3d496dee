import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import OSS from 'ali-oss';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { AppError } from '../../shared/errors.ts';
import { type EcsMetadataServer, startEcsMetadataServer } from '../../test/fakes/ecs-metadata-server.ts';
import { type OssServer, startOssServer } from '../../test/oss-server/server.ts';
import { createStorage } from '../deps.ts';
import { parseEnv } from '../env.ts';
import { OssStorage, type OssStorageOptions } from './oss.ts';
import { CredentialsUnavailableError, EcsRamRoleCredentials } from './oss-credentials.ts';
import { presignV4 } from './oss-sign.ts';

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
    // As on ECS: browsers get the public name, the server's own requests use the internal one.
    endpoint: server.url,
    cname: true,
    internalEndpoint: server.internalUrl,
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

/** Every request so far was V4-signed and arrived at the internal host (uploads, head, delete). */
const expectAllInternalV4 = () => {
  expect(server.requests.length).toBeGreaterThan(0);
  for (const request of server.requests) {
    expect(request).toMatchObject({ host: server.internalHost, auth: 'V4' });
  }
};

/** Fetch a URL handed out, from the public host: it must be V4-signed and verify at the server. */
const fetchPublic = async (url: string) => {
  expect(url.startsWith(`${server.url}/`)).toBe(true);
  expect(url).toContain('x-oss-signature-version=OSS4-HMAC-SHA256');
  expect(url).not.toContain('OSSAccessKeyId');
  const before = server.requests.length;
  const res = await fetch(url);
  expect(server.requests.slice(before)).toMatchObject([{ host: server.publicHost, auth: 'V4-presigned' }]);
  return res;
};

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
    // The canonical URL (what job_outputs.oss_url keeps) is on the public host, not the internal one.
    expect(stored).toEqual({
      key: 'outputs/u1/2026/01/02/j1/0.png',
      url: `${server.url}/outputs/u1/2026/01/02/j1/0.png`,
      size: 10 * KB,
      contentType: 'image/png',
    });
    expect(attempts('PutObject')).toBe(1);
    expect(progress.at(-1)).toBe(10 * KB);
    expect(await oss.head(stored.key)).toEqual({ size: 10 * KB, contentType: 'image/png' });
    expectAllInternalV4();

    const signed = oss.urlFor(stored.key);
    const res = await fetchPublic(signed);
    expect(res.status).toBe(200);
    expect(Buffer.from(await res.arrayBuffer()).length).toBe(10 * KB);

    const download = oss.urlFor(stored.key, { download: 'cat.png' });
    const dl = await fetchPublic(download);
    expect(dl.status).toBe(200);
    expect(dl.headers.get('content-disposition')).toContain('attachment; filename="cat.png"');

    expect(decodeURIComponent(oss.urlFor(stored.key, { thumbnail: 'image' }))).toContain(
      'x-oss-process=image/resize,w_512',
    );
    const videoThumb = oss.urlFor(stored.key, { thumbnail: 'video' });
    expect(decodeURIComponent(videoThumb)).toContain('x-oss-process=video/snapshot,t_1000,f_jpg,w_512');
    expect((await fetchPublic(oss.urlFor(stored.key, { thumbnail: 'image' }))).status).toBe(200);
    expect((await fetchPublic(videoThumb)).status).toBe(200);
    // A signed URL cannot be moved to another object.
    const moved = await fetch(signed.replace('/0.png?', '/1.png?'));
    expect(moved.status).toBe(403);

    server.requests.length = 0;
    await oss.delete(stored.key);
    expect(await oss.head(stored.key)).toBeNull();
    await oss.delete(stored.key); // idempotent
    expectAllInternalV4();
  });

  it('sends bytes from memory with their MD5, which OSS checks, and stores them whole', async () => {
    const oss = storage();
    const bytes = Buffer.from(Array.from({ length: 30 * KB }, (_, i) => (i * 7919) % 251));
    const key = 'outputs/u1/2026/01/02/j2/0.png';
    await oss.put({ key, bytes, contentType: 'image/png', size: bytes.length });
    const [put] = server.requests.filter((r) => r.operation === 'PutObject');
    expect(put).toMatchObject({ status: 200, contentMd5: createHash('md5').update(bytes).digest('base64') });
    const res = await fetchPublic(oss.urlFor(key));
    expect(Buffer.from(await res.arrayBuffer()).equals(bytes)).toBe(true);
  });

  it('signs read URLs exactly as ali-oss signatureUrlV4 does, for the public host', async () => {
    const at = new Date('2026-11-28T21:08:29Z');
    const hosts = [
      { endpoint: server.url, cname: true }, // a bound domain (here, the test server)
      { endpoint: 'https://oss-cn-hangzhou.aliyuncs.com', cname: false }, // bucket.endpoint
      { endpoint: 'http://10.0.0.7:9000', cname: false }, // an IP: no bucket in the host
    ];
    const queries: Record<string, string>[] = [
      { 'x-oss-process': 'image/resize,w_512', 'response-content-disposition': 'attachment' },
      { 'response-content-disposition': `attachment; filename="雪景 (1).png"; filename*=UTF-8''%E9%9B%AA` },
      {},
    ];
    // The signing key is derived once per secret, day and region: each of these signs with its own.
    const cases = [
      { at, secret: credentials.accessKeySecret },
      { at, secret: 'another-secret', token: 'sts-token/with+odd=chars' },
      { at: new Date('2026-11-29T00:00:01Z'), secret: 'another-secret' },
      { at, secret: credentials.accessKeySecret },
    ];
    // Keys with what encodeURIComponent leaves (`'()*~!`), a space, a plus, reserved characters and non-ASCII.
    const keys = [
      'outputs/a b+c.png',
      "outputs/it's (1)*~!.png",
      'outputs/雪景.png',
      'outputs/q?x=1&y=#2;%41.png',
      'outputs/u1/j1/0.png',
    ];
    const urls = new Set<string>();
    let n = 0;
    for (const host of hosts) {
      for (const [i, c] of cases.entries()) {
        const key = keys[n % keys.length]!;
        const query = queries[n++ % queries.length]!;
        const options = { bucket, region: 'oss-cn-hangzhou', ...credentials, ...host };
        // ali-oss warns, at each client made with an STS token, that it will not refresh it.
        const quiet = vi.spyOn(console, 'warn').mockImplementation(() => {});
        const signer = new OSS({
          ...options,
          accessKeySecret: c.secret,
          ...(c.token ? { stsToken: c.token } : {}),
        });
        quiet.mockRestore();
        vi.useFakeTimers({ toFake: ['Date'], now: c.at });
        const theirs = signer.signatureUrlV4('GET', 600, { headers: {}, queries: query }, key);
        vi.useRealTimers();
        const ours = presignV4({
          client: new OSS(options),
          bucket,
          region: 'oss-cn-hangzhou',
          credentials: { ...credentials, accessKeySecret: c.secret, securityToken: c.token },
          method: 'GET',
          key,
          expiresSeconds: 600,
          queries: query,
          now: c.at,
        });
        expect(ours, `${host.endpoint} ${key} case ${i}`).toBe(await theirs);
        urls.add(ours);
      }
    }
    expect(urls.size).toBe(hosts.length * cases.length);
  });

  it('hands out the same V4 URL for an object all step long, signed for the lifetime at the step start', async () => {
    let clock = Date.now();
    const oss = storage({ now: () => clock });
    const path = await makeFile('stepped.png', 2 * KB);
    const key = 'outputs/stepped/0.png';
    await oss.put({ key, filePath: path, contentType: 'image/png', size: 2 * KB });
    const signedAt = (url: string) => {
      const q = new URL(url).searchParams;
      const t = q.get('x-oss-date')!;
      const at = Date.parse(
        `${t.slice(0, 4)}-${t.slice(4, 6)}-${t.slice(6, 8)}T${t.slice(9, 11)}:${t.slice(11, 13)}:${t.slice(13, 15)}Z`,
      );
      return { at, until: at + Number(q.get('x-oss-expires')) * 1000 };
    };
    // A lifetime of 600 s: steps of 50 s.
    const first = oss.urlFor(key);
    const { at, until } = signedAt(first);
    expect(at % 50_000).toBe(0);
    expect(at).toBeLessThanOrEqual(clock);
    expect(until - at).toBe(600_000);
    expect(until).toBeGreaterThan(clock + 550_000);
    // OSS takes a signing time in the past.
    expect((await fetchPublic(first)).status).toBe(200);
    // Later in the step: the same URL (no HMAC, and the browser's cached copy is still good).
    clock = at + 49_000;
    expect(oss.urlFor(key)).toBe(first);
    expect(oss.urlFor(key, { thumbnail: 'image' })).not.toBe(first);
    expect(oss.urlFor(key, { download: 'a.png' })).not.toBe(oss.urlFor(key, { download: 'b.png' }));
    // The next step: signed at its start.
    clock = at + 50_000;
    const next = oss.urlFor(key);
    expect(next).not.toBe(first);
    expect(signedAt(next).at).toBe(at + 50_000);
    expect((await fetchPublic(next)).status).toBe(200);
  });

  it('uses the public base URL instead of signing when one is configured', () => {
    const oss = storage({ publicBaseUrl: 'https://cdn.example.com/' });
    expect(oss.canonicalUrl('outputs/a b.png')).toBe('https://cdn.example.com/outputs/a%20b.png');
    expect(oss.urlFor('outputs/a.png')).toBe('https://cdn.example.com/outputs/a.png');
    expect(oss.urlFor('outputs/a.png', { thumbnail: 'image' })).toBe(
      'https://cdn.example.com/outputs/a.png?x-oss-process=image%2Fresize%2Cw_512',
    );
  });

  it('derives the public URL from region or endpoint, never from the internal endpoint', () => {
    const byRegion = new OssStorage({
      bucket: 'bkt1',
      region: 'oss-cn-shanghai',
      cname: false,
      internalEndpoint: 'https://oss-cn-shanghai-internal.aliyuncs.com',
      ...credentials,
      urlTtlSeconds: 60,
    });
    expect(byRegion.canonicalUrl('outputs/x.png')).toBe(
      'https://bkt1.oss-cn-shanghai.aliyuncs.com/outputs/x.png',
    );
    expect(byRegion.urlFor('outputs/x.png')).toMatch(
      /^https:\/\/bkt1\.oss-cn-shanghai\.aliyuncs\.com\/outputs\/x\.png\?x-oss-credential=storage-ak%2F\d{8}%2Fcn-shanghai%2Foss%2Faliyun_v4_request&x-oss-date=\d{8}T\d{6}Z&x-oss-expires=60&x-oss-signature-version=OSS4-HMAC-SHA256&x-oss-signature=[0-9a-f]{64}$/,
    );
    expect(byRegion.urlFor('outputs/x.png', { download: true })).not.toContain('internal');

    const byDomain = new OssStorage({
      bucket: 'bkt1',
      region: 'oss-cn-shanghai',
      endpoint: 'https://media.example.com',
      cname: true,
      internalEndpoint: 'https://oss-cn-shanghai-internal.aliyuncs.com',
      ...credentials,
      urlTtlSeconds: 60,
    });
    expect(byDomain.canonicalUrl('outputs/x.png')).toBe('https://media.example.com/outputs/x.png');
    expect(byDomain.urlFor('outputs/x.png')).toMatch(
      /^https:\/\/media\.example\.com\/outputs\/x\.png\?x-oss-credential=/,
    );

    const v1 = new OssStorage({
      bucket: 'bkt1',
      region: 'oss-cn-shanghai',
      cname: false,
      signatureVersion: 1,
      ...credentials,
      urlTtlSeconds: 60,
    });
    expect(v1.urlFor('outputs/x.png')).toMatch(
      /^https:\/\/bkt1\.oss-cn-shanghai\.aliyuncs\.com\/outputs\/x\.png\?OSSAccessKeyId=storage-ak&Expires=\d+&Signature=/,
    );
  });

  it('signs a download on the public host even with a public base URL', async () => {
    const oss = storage({ publicBaseUrl: 'https://cdn.example.com' });
    const path = await makeFile('dl.png', 4 * KB);
    await oss.put({ key: 'outputs/dl.png', filePath: path, contentType: 'image/png', size: 4 * KB });
    expect(oss.canonicalUrl('outputs/dl.png')).toBe('https://cdn.example.com/outputs/dl.png');
    const res = await fetchPublic(oss.urlFor('outputs/dl.png', { download: 'dl.png' }));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-disposition')).toContain('filename="dl.png"');
  });

  it('is refused on V1 by a V4-only bucket, and works on V1 where the bucket still takes it', async () => {
    const path = await makeFile('v1.png', 4 * KB);
    const v1 = storage({ signatureVersion: 1 });
    const error = await v1
      .put({ key: 'outputs/v1.png', filePath: path, contentType: 'image/png', size: 4 * KB })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AppError);
    expect((error as AppError).code).toBe('STORAGE_UPLOAD_FAILED');
    expect((error as AppError).message).toContain('AccessDenied');
    expect(server.objectKeys()).not.toContain('outputs/v1.png');

    server.allowV1 = true;
    try {
      await v1.put({ key: 'outputs/v1.png', filePath: path, contentType: 'image/png', size: 4 * KB });
      expect(server.requests.at(-1)).toMatchObject({ operation: 'PutObject', auth: 'V1' });
      const url = v1.urlFor('outputs/v1.png', { download: true });
      expect(url).toContain('OSSAccessKeyId=');
      expect((await fetch(url)).status).toBe(200);
    } finally {
      server.allowV1 = false;
    }
  });

  it('sends a static STS token with every request and in every signed URL', async () => {
    const sts = {
      accessKeyId: 'STS.static-1',
      accessKeySecret: 'static-sts-secret',
      securityToken: 'static-token',
    };
    server.addCredentials(sts);
    try {
      const oss = storage({ ...sts });
      const path = await makeFile('sts.png', 4 * KB);
      await oss.put({ key: 'outputs/sts.png', filePath: path, contentType: 'image/png', size: 4 * KB });
      expect(server.requests.at(-1)).toMatchObject({
        accessKeyId: sts.accessKeyId,
        securityToken: 'static-token',
      });
      const url = oss.urlFor('outputs/sts.png');
      expect(url).toContain('x-oss-security-token=static-token');
      expect((await fetchPublic(url)).status).toBe(200);
    } finally {
      server.removeCredentials(sts.accessKeyId);
    }
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
    // Initiate, every part and Complete: V4, at the internal host.
    expect(attempts('InitiateMultipartUpload')).toBe(1);
    expect(attempts('CompleteMultipartUpload')).toBe(1);
    expectAllInternalV4();
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

    it('never deletes the object under its key when an upload fails: another worker may have stored it', async () => {
      // Worker B reclaimed the job and stored the output; worker A, which lost its lease mid-upload, fails.
      const theirs = await makeFile('theirs.png', 20 * KB);
      await storage().put({
        key: 'outputs/shared.png',
        filePath: theirs,
        contentType: 'image/png',
        size: 20 * KB,
      });
      const ours = await makeFile('ours.png', 10 * KB);
      server.faults.failNext(Number.POSITIVE_INFINITY, { status: 500, operation: 'PutObject' });
      await expectUploadFailed(
        storage().put({ key: 'outputs/shared.png', filePath: ours, contentType: 'image/png', size: 10 * KB }),
      );
      server.faults.clear();
      expect(attempts('DeleteObject')).toBe(0);
      const chunks: Buffer[] = [];
      for await (const chunk of server.readObject('outputs/shared.png'))
        chunks.push(Buffer.from(chunk as Buffer));
      expect(Buffer.concat(chunks).length).toBe(20 * KB);
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

    it('stops waiting for a hung single PUT when its signal aborts (a stopping worker), long before the timeout', async () => {
      server.faults.hangNext(Number.POSITIVE_INFINITY, { operation: 'PutObject' });
      const controller = new AbortController();
      const started = Date.now();
      const upload = storage({ timeoutMs: 30_000 }).put({
        key: 'outputs/stopping.png',
        bytes: Buffer.alloc(20 * KB, 7),
        contentType: 'image/png',
        size: 20 * KB,
        signal: controller.signal,
      });
      await vi.waitUntil(() => attempts('PutObject') === 1, { timeout: 5_000 });
      controller.abort();
      await expect(upload).rejects.toMatchObject({
        code: 'STORAGE_UPLOAD_FAILED',
        message: 'Upload canceled',
      });
      expect(Date.now() - started).toBeLessThan(5_000);
      // No second attempt after the abort.
      expect(attempts('PutObject')).toBe(1);
      expectNothingLeft('outputs/stopping.png');
    });

    it('stops waiting for a hung multipart part when its signal aborts, and aborts the upload', async () => {
      const path = await makeFile('stopping.mp4', 450 * KB);
      server.faults.hangNext(Number.POSITIVE_INFINITY, { operation: 'UploadPart' });
      const controller = new AbortController();
      const started = Date.now();
      const upload = storage({ timeoutMs: 30_000 }).put({
        key: 'outputs/stopping.mp4',
        filePath: path,
        contentType: 'video/mp4',
        size: 450 * KB,
        signal: controller.signal,
      });
      await vi.waitUntil(() => attempts('UploadPart') >= 1, { timeout: 5_000 });
      controller.abort();
      await expect(upload).rejects.toMatchObject({
        code: 'STORAGE_UPLOAD_FAILED',
        message: 'Upload canceled',
      });
      expect(Date.now() - started).toBeLessThan(5_000);
      expect(attempts('AbortMultipartUpload')).toBe(1);
      expectNothingLeft('outputs/stopping.mp4');
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

describe('OssStorage with the ECS instance RAM role', () => {
  let metadata: EcsMetadataServer;
  /** The credential source's clock runs this far ahead of real time. */
  let ahead = 0;
  const SIX_HOURS = 6 * 3600 * 1000;

  beforeAll(async () => {
    metadata = await startEcsMetadataServer({
      role: 'DreamFactoryOss',
      onIssue: (issued) => server.addCredentials(issued),
      now: () => Date.now() + ahead,
    });
  });
  afterAll(() => metadata.close());
  beforeEach(() => {
    ahead = 0;
    metadata.failWith = undefined;
    metadata.delayMs = 0;
  });

  const ramRole = (overrides: Partial<ConstructorParameters<typeof EcsRamRoleCredentials>[0]> = {}) =>
    new EcsRamRoleCredentials({
      role: 'DreamFactoryOss',
      metadataUrl: metadata.url,
      timeoutMs: 1_000,
      now: () => Date.now() + ahead,
      ...overrides,
    });

  it('uploads and signs with the role credentials, and refreshes them before they expire', async () => {
    const source = ramRole();
    const oss = storage({ accessKeyId: undefined, accessKeySecret: undefined, credentials: source });
    const path = await makeFile('role.png', 4 * KB);
    const before = metadata.credentialRequests;

    await oss.put({ key: 'outputs/role-1.png', filePath: path, contentType: 'image/png', size: 4 * KB });
    expect(metadata.credentialRequests).toBe(before + 1);
    const first = metadata.issued.at(-1)!;
    expect(server.requests.at(-1)).toMatchObject({
      operation: 'PutObject',
      host: server.internalHost,
      auth: 'V4',
      accessKeyId: first.accessKeyId,
      securityToken: first.securityToken,
    });
    const firstUrl = oss.urlFor('outputs/role-1.png');
    expect(firstUrl).toContain(`x-oss-security-token=${encodeURIComponent(first.securityToken)}`);
    expect((await fetchPublic(firstUrl)).status).toBe(200);

    // Still an hour to go: the cached credentials are used, no new fetch.
    ahead = SIX_HOURS - 3600_000;
    await oss.head('outputs/role-1.png');
    expect(metadata.credentialRequests).toBe(before + 1);

    // Four minutes before expiry (inside the 5-minute margin): the next upload fetches fresh ones first.
    ahead = SIX_HOURS - 4 * 60_000;
    await oss.put({ key: 'outputs/role-2.png', filePath: path, contentType: 'image/png', size: 4 * KB });
    expect(metadata.credentialRequests).toBe(before + 2);
    const second = metadata.issued.at(-1)!;
    expect(second.securityToken).not.toBe(first.securityToken);
    expect(server.requests.at(-1)).toMatchObject({
      operation: 'PutObject',
      accessKeyId: second.accessKeyId,
      securityToken: second.securityToken,
    });
    const secondUrl = oss.urlFor('outputs/role-2.png', { download: true });
    expect(secondUrl).toContain(encodeURIComponent(second.securityToken));
    expect((await fetchPublic(secondUrl)).status).toBe(200);
  });

  it('is built from OSS_* variables: RAM role, internal endpoint, public custom domain, V4', async () => {
    const env = parseEnv({
      DATA_DIR: dir,
      OSS_BUCKET: bucket,
      OSS_REGION: 'oss-cn-hangzhou',
      OSS_ENDPOINT: server.url,
      OSS_CNAME: 'true',
      OSS_INTERNAL_ENDPOINT: server.internalUrl,
      OSS_ECS_RAM_ROLE: 'DreamFactoryOss',
      OSS_ECS_METADATA_URL: metadata.url,
    });
    const oss = createStorage(env);
    expect(oss.kind).toBe('oss');
    const path = await makeFile('env.png', 4 * KB);
    const stored = await oss.put({
      key: 'outputs/env.png',
      filePath: path,
      contentType: 'image/png',
      size: 4 * KB,
    });
    expect(stored.url).toBe(`${server.url}/outputs/env.png`);
    const issued = metadata.issued.at(-1)!;
    expect(server.requests.at(-1)).toMatchObject({
      operation: 'PutObject',
      host: server.internalHost,
      auth: 'V4',
      securityToken: issued.securityToken,
    });
    expect((await fetchPublic(oss.urlFor(stored.key, { thumbnail: 'image' }))).status).toBe(200);
  });

  it('moves a long multipart upload to fresh credentials half-way', async () => {
    const oss = storage({
      accessKeyId: undefined,
      accessKeySecret: undefined,
      credentials: ramRole(),
      parallel: 1,
    });
    const path = await makeFile('role-long.mp4', 450 * KB);
    server.requests.length = 0;
    let parts = 0;
    await oss.put({
      key: 'outputs/role-long.mp4',
      filePath: path,
      contentType: 'video/mp4',
      size: 450 * KB,
      onProgress: () => {
        parts += 1;
        // After the second part the credentials come within 5 minutes of expiry.
        if (parts === 3) ahead = SIX_HOURS - 4 * 60_000;
      },
    });
    const tokens = server.requests
      .filter((r) => r.operation === 'UploadPart' || r.operation === 'CompleteMultipartUpload')
      .map((r) => r.securityToken);
    const [older, newer] = metadata.issued.slice(-2).map((c) => c.securityToken);
    expect(tokens[0]).toBe(older);
    expect(tokens.at(-1)).toBe(newer);
    expect(new Set(tokens)).toEqual(new Set([older, newer]));
    expect(await sha256OfStored('outputs/role-long.mp4')).toBe(await sha256OfFile(path));
  });

  it('shares one metadata fetch between concurrent callers', async () => {
    const source = ramRole();
    metadata.delayMs = 100;
    const before = metadata.credentialRequests;
    const all = await Promise.all([source.get(), source.get(), source.get(), source.refresh()]);
    expect(metadata.credentialRequests).toBe(before + 1);
    expect(new Set(all.map((c) => c.securityToken)).size).toBe(1);
  });

  it('fails the upload with STORAGE_UPLOAD_FAILED and hands out no URL when expired credentials cannot be refreshed', async () => {
    const source = ramRole();
    const oss = storage({ accessKeyId: undefined, accessKeySecret: undefined, credentials: source });
    const path = await makeFile('role-down.png', 4 * KB);
    await oss.put({ key: 'outputs/role-ok.png', filePath: path, contentType: 'image/png', size: 4 * KB });

    metadata.failWith = 500;
    // Inside the margin but not expired: the current credentials still serve while the service recovers.
    ahead = SIX_HOURS - 60_000;
    expect(oss.urlFor('outputs/role-ok.png')).toContain('x-oss-security-token=');

    ahead = SIX_HOURS + 1000;
    const before = metadata.credentialRequests;
    server.requests.length = 0;
    const error = await oss
      .put({ key: 'outputs/role-down.png', filePath: path, contentType: 'image/png', size: 4 * KB })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AppError);
    expect((error as AppError).code).toBe('STORAGE_UPLOAD_FAILED');
    expect((error as AppError).message).toContain('CredentialsUnavailableError');
    expect(metadata.credentialRequests).toBeGreaterThanOrEqual(before + 3);
    // Nothing was sent with expired credentials.
    expect(server.requests).toEqual([]);
    expect(server.objectKeys()).not.toContain('outputs/role-down.png');
    expect(() => oss.urlFor('outputs/role-ok.png')).toThrow(CredentialsUnavailableError);

    // The service is back: the next upload works with new credentials.
    metadata.failWith = undefined;
    await oss.put({ key: 'outputs/role-down.png', filePath: path, contentType: 'image/png', size: 4 * KB });
    expect(server.requests.at(-1)).toMatchObject({ securityToken: metadata.issued.at(-1)!.securityToken });
  });

  it('refuses a RAM role the metadata service does not know, and a metadata service that hangs', async () => {
    await expect(ramRole({ role: 'SomeoneElse' }).get()).rejects.toThrow(/RAM role "SomeoneElse".*404/);
    metadata.delayMs = 2_000;
    await expect(ramRole({ timeoutMs: 200 }).get()).rejects.toThrow(/did not answer/);
  });
});
