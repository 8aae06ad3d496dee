import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OSS from 'ali-oss';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { type OssServer, startOssServer } from './server.ts';
import { canonicalRequestV4, signV4, stringToSignV4 } from './signature.ts';

const credentials = { accessKeyId: 'test-ak', accessKeySecret: 'test-secret' };
const bucket = 'test-bucket';

let dir: string;
let server: OssServer;

/** The real ali-oss client, on Signature V4 unless told otherwise. */
const client = (overrides: Partial<OSS.Options> = {}) =>
  new OSS({
    ...credentials,
    bucket,
    region: 'oss-cn-hangzhou',
    endpoint: server.url,
    cname: true,
    authorizationV4: true,
    timeout: 5_000,
    ...overrides,
  });

/** A V4 presigned GET made at `at` (ali-oss reads the clock synchronously, before its first await). */
const presignedAt = async (at: Date, oss: OSS, key: string, expires: number) => {
  vi.useFakeTimers({ toFake: ['Date'], now: at });
  const pending = oss.signatureUrlV4('GET', expires, undefined, key);
  vi.useRealTimers();
  return pending;
};

const xmlCode = async (res: Response) => /<Code>([^<]+)<\/Code>/.exec(await res.text())?.[1];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'oss-server-test-'));
  server = await startOssServer({ dir, bucket, ...credentials });
});

afterAll(async () => {
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

beforeEach(() => {
  server.faults.clear();
  server.requests.length = 0;
});
afterEach(() => {
  server.allowV1 = false;
});

describe('OSS test server with the real ali-oss client', () => {
  it('puts, heads, gets, ranges and deletes an object', async () => {
    const oss = client();
    const body = Buffer.from('hello object storage');
    await oss.put('videos/a b+c.mp4', body);
    expect(server.objectKeys()).toContain('videos/a b+c.mp4');

    const head = await oss.head('videos/a b+c.mp4');
    const headers = (head.res as { headers: Record<string, string> }).headers;
    expect(headers['content-length']).toBe(String(body.length));
    expect(headers['content-type']).toBe('video/mp4');

    const got = await oss.get('videos/a b+c.mp4');
    expect(Buffer.from(got.content as Buffer).toString()).toBe('hello object storage');

    const ranged = await oss.get('videos/a b+c.mp4', undefined, { headers: { Range: 'bytes=6-11' } });
    expect(ranged.res.status).toBe(206);
    expect(Buffer.from(ranged.content as Buffer).toString()).toBe('object');

    await oss.delete('videos/a b+c.mp4');
    expect(server.objectKeys()).not.toContain('videos/a b+c.mp4');
    await expect(oss.head('videos/a b+c.mp4')).rejects.toMatchObject({ code: 'NoSuchKey', status: 404 });
  });

  it('accepts a chunked PutObject from putStream', async () => {
    const { Readable } = await import('node:stream');
    await client().putStream('chunked/s.bin', Readable.from([Buffer.alloc(1000, 1), Buffer.alloc(500, 2)]));
    const head = await client().head('chunked/s.bin');
    expect((head.res as { headers: Record<string, string> }).headers['content-length']).toBe('1500');
  });

  it('runs a multipart upload with ListParts, Complete and Abort', async () => {
    const oss = client();
    const file = join(dir, 'mp.bin');
    const data = Buffer.alloc(300 * 1024, 7);
    data.write('tail', data.length - 4);
    await writeFile(file, data);
    await oss.multipartUpload('mp/one.bin', file, { partSize: 100 * 1024, parallel: 2 });
    const got = await oss.get('mp/one.bin');
    expect(Buffer.compare(got.content as Buffer, data)).toBe(0);
    // A range across a part boundary of the stored multipart object.
    const across = await oss.get('mp/one.bin', undefined, { headers: { Range: 'bytes=102390-102409' } });
    expect(across.res.status).toBe(206);
    expect(Buffer.compare(across.content as Buffer, data.subarray(102390, 102410))).toBe(0);

    const init = await oss.initMultipartUpload('mp/two.bin');
    await oss.uploadPart('mp/two.bin', init.uploadId, 1, file, 0, 100 * 1024);
    const parts = await oss.listParts('mp/two.bin', init.uploadId, {
      'max-parts': 100,
    } as OSS.ListPartsQuery);
    expect(server.listMultipartUploads()).toEqual([
      { uploadId: init.uploadId, key: 'mp/two.bin', parts: [1] },
    ]);
    expect((parts as unknown as { parts: unknown }).parts).toBeTruthy();
    await oss.abortMultipartUpload('mp/two.bin', init.uploadId);
    expect(server.listMultipartUploads()).toEqual([]);
    expect(server.objectKeys()).not.toContain('mp/two.bin');
  });

  it('rejects a wrong secret with SignatureDoesNotMatch', async () => {
    const bad = client({ accessKeySecret: 'not-the-secret' });
    await expect(bad.put('x/y.png', Buffer.from('x'))).rejects.toMatchObject({
      code: 'SignatureDoesNotMatch',
      status: 403,
    });
    expect(server.objectKeys()).not.toContain('x/y.png');
  });

  it('rejects an unknown access key id', async () => {
    await expect(
      client({ accessKeyId: 'someone-else' }).put('x/z.png', Buffer.from('x')),
    ).rejects.toMatchObject({
      code: 'InvalidAccessKeyId',
    });
  });

  it('serves a V4 presigned URL until it expires, then answers 403', async () => {
    const oss = client();
    await oss.put('signed/v.mp4', Buffer.from('signed body'));
    const url = await oss.signatureUrlV4(
      'GET',
      60,
      { headers: {}, queries: { 'response-content-disposition': 'attachment; filename="v.mp4"' } },
      'signed/v.mp4',
    );
    expect(url).toContain('x-oss-signature-version=OSS4-HMAC-SHA256');
    expect(url).toMatch(/x-oss-credential=test-ak%2F\d{8}%2Fcn-hangzhou%2Foss%2Faliyun_v4_request/);
    const ok = await fetch(url);
    expect(ok.status).toBe(200);
    expect(ok.headers.get('content-disposition')).toBe('attachment; filename="v.mp4"');
    expect(await ok.text()).toBe('signed body');
    expect(server.requests.at(-1)).toMatchObject({ auth: 'V4-presigned', host: server.publicHost });

    const tamperedUrls = [
      url.replace('signed/v.mp4', 'signed/w.mp4'),
      url.replace('filename%3D%22v.mp4', 'filename%3D%22x.mp4'),
      url.replace('x-oss-expires=60', 'x-oss-expires=600'),
      url.replace(/x-oss-signature=([0-9a-f])/, (_, c: string) => `x-oss-signature=${c === '0' ? '1' : '0'}`),
    ];
    for (const tampered of tamperedUrls) {
      expect(tampered).not.toBe(url);
      const refused = await fetch(tampered);
      expect(refused.status).toBe(403);
      expect(await xmlCode(refused)).toBe('SignatureDoesNotMatch');
    }
    const unsigned = await fetch(url.replace(/&?x-oss-signature=[0-9a-f]+/, ''));
    expect(unsigned.status).toBe(403);

    const expired = await presignedAt(new Date(Date.now() - 120_000), oss, 'signed/v.mp4', 60);
    const refused = await fetch(expired);
    expect(refused.status).toBe(403);
    const xml = await refused.text();
    expect(xml).toContain('<Code>AccessDenied</Code>');
    expect(xml).toContain('Request has expired.');
    // Signed 20 minutes ahead: past the 15 minutes of skew OSS allows.
    const ahead = await presignedAt(new Date(Date.now() + 20 * 60_000), oss, 'signed/v.mp4', 60);
    expect(await xmlCode(await fetch(ahead))).toBe('RequestTimeTooSkewed');
    // V4 URLs live at most 7 days.
    const tooLong = await oss.signatureUrlV4('GET', 604_801, undefined, 'signed/v.mp4');
    expect((await fetch(tooLong)).status).toBe(400);
  });

  it('checks the additional headers of a V4 presigned URL', async () => {
    const oss = client();
    await oss.put('signed/h.png', Buffer.from('hosted'));
    const url = await oss.signatureUrlV4(
      'GET',
      60,
      { headers: { host: server.publicHost } },
      'signed/h.png',
      ['host'],
    );
    expect(url).toContain('x-oss-additional-headers=host');
    expect((await fetch(url)).status).toBe(200);
    // The same URL sent under the other host name no longer verifies.
    const elsewhere = await fetch(url.replace(server.url, server.internalUrl));
    expect(await xmlCode(elsewhere)).toBe('SignatureDoesNotMatch');
  });

  it('refuses V4 header signatures for another region, an old date or a signed payload hash', async () => {
    await expect(
      client({ region: 'oss-cn-shanghai' }).put('x/region.png', Buffer.from('x')),
    ).rejects.toMatchObject({
      code: 'InvalidArgument',
      status: 400,
    });

    const sendSigned = async (at: Date, payloadHash = 'UNSIGNED-PAYLOAD') => {
      const timestamp = at
        .toISOString()
        .replace(/[-:]/g, '')
        .replace(/\.\d{3}/, '');
      const headers = { 'x-oss-date': timestamp, 'x-oss-content-sha256': payloadHash };
      const canonical = canonicalRequestV4({
        method: 'GET',
        bucket,
        key: 'x/none.png',
        query: new Map(),
        headers,
        additionalHeaders: [],
        payloadHash,
      });
      const day = timestamp.slice(0, 8);
      const signature = signV4(
        credentials.accessKeySecret,
        day,
        'cn-hangzhou',
        stringToSignV4(timestamp, 'cn-hangzhou', canonical),
      );
      return fetch(`${server.url}/x/none.png`, {
        headers: {
          ...headers,
          // ", " between the fields, as the OSS docs write it (ali-oss writes ",").
          authorization: `OSS4-HMAC-SHA256 Credential=test-ak/${day}/cn-hangzhou/oss/aliyun_v4_request, Signature=${signature}`,
        },
      });
    };
    // A well-formed request gets as far as the missing object.
    expect(await xmlCode(await sendSigned(new Date()))).toBe('NoSuchKey');
    expect(await xmlCode(await sendSigned(new Date(Date.now() - 16 * 60_000)))).toBe('RequestTimeTooSkewed');
    expect(await xmlCode(await sendSigned(new Date(), 'e3b0c44298fc1c149afbf4c8996fb924'))).toBe(
      'InvalidArgument',
    );
  });

  it('refuses Signature V1 by default, as a new bucket does, and takes it when allowed', async () => {
    const v1 = client({ authorizationV4: false });
    await expect(v1.put('v1/a.png', Buffer.from('a'))).rejects.toMatchObject({
      code: 'AccessDenied',
      status: 403,
    });
    const presigned = await fetch(v1.signatureUrl('v1/a.png', { expires: 60 }));
    expect(presigned.status).toBe(403);
    expect(await xmlCode(presigned)).toBe('AccessDenied');
    expect(server.objectKeys()).not.toContain('v1/a.png');

    server.allowV1 = true;
    await v1.put('v1/a.png', Buffer.from('a'));
    expect(server.requests.at(-1)).toMatchObject({ operation: 'PutObject', auth: 'V1', status: 200 });
    const ok = await fetch(v1.signatureUrl('v1/a.png', { expires: 60 }));
    expect(await ok.text()).toBe('a');
    const expired = await fetch(v1.signatureUrl('v1/a.png', { expires: -10 }));
    expect(await expired.text()).toContain('Request has expired.');
    await expect(
      client({ authorizationV4: false, accessKeySecret: 'wrong' }).put('v1/b.png', Buffer.from('b')),
    ).rejects.toMatchObject({ code: 'SignatureDoesNotMatch' });
  });

  it('checks STS tokens per access key, in headers and presigned URLs', async () => {
    const sts = { accessKeyId: 'STS.temp-1', accessKeySecret: 'sts-secret-1', securityToken: 'token-1' };
    server.addCredentials({ ...sts, expiration: new Date(Date.now() + 3_600_000) });
    const withToken = (stsToken?: string) =>
      client({
        accessKeyId: sts.accessKeyId,
        accessKeySecret: sts.accessKeySecret,
        ...(stsToken ? { stsToken, refreshSTSToken: async () => ({ ...sts, stsToken }) } : {}),
      });
    await withToken('token-1').put('sts/a.png', Buffer.from('sts'));
    expect(server.requests.at(-1)).toMatchObject({
      auth: 'V4',
      accessKeyId: 'STS.temp-1',
      securityToken: 'token-1',
      status: 200,
    });
    await expect(withToken('token-2').put('sts/b.png', Buffer.from('x'))).rejects.toMatchObject({
      code: 'InvalidSecurityToken',
      status: 403,
    });
    await expect(withToken().put('sts/b.png', Buffer.from('x'))).rejects.toMatchObject({
      code: 'InvalidSecurityToken',
    });
    const url = await withToken('token-1').signatureUrlV4('GET', 60, undefined, 'sts/a.png');
    expect(url).toContain('x-oss-security-token=token-1');
    expect(await (await fetch(url)).text()).toBe('sts');

    server.addCredentials({ ...sts, expiration: new Date(Date.now() - 1000) });
    await expect(withToken('token-1').put('sts/c.png', Buffer.from('x'))).rejects.toMatchObject({
      code: 'SecurityTokenExpired',
    });
    expect(await xmlCode(await fetch(url))).toBe('SecurityTokenExpired');
    server.removeCredentials(sts.accessKeyId);
  });

  it('records the Host of each request: the internal name for an internal client, the public one for URLs', async () => {
    const internal = client({ endpoint: server.internalUrl, cname: false, internal: true });
    await internal.put('hosts/a.png', Buffer.from('a'));
    await internal.head('hosts/a.png');
    expect(server.internalHost).toBe('test-bucket.oss-cn-hangzhou-internal.aliyuncs.com');
    expect(server.requests.map((r) => [r.operation, r.host])).toEqual([
      ['PutObject', server.internalHost],
      ['HeadObject', server.internalHost],
    ]);
    // The log's status is written once the body has streamed, so check the answer on the client side.
    const res = await fetch(await client().signatureUrlV4('GET', 60, undefined, 'hosts/a.png'));
    expect(res.status).toBe(200);
    expect(server.requests.at(-1)).toMatchObject({ operation: 'GetObject', host: server.publicHost });
  });

  it('answers an x-oss-process GET with the object instead of processing it', async () => {
    const oss = client();
    await oss.put('thumbs/i.png', Buffer.from('png bytes'));
    const url = await oss.signatureUrlV4(
      'GET',
      60,
      { headers: {}, queries: { 'x-oss-process': 'image/resize,w_512' } },
      'thumbs/i.png',
    );
    const res = await fetch(url);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('png bytes');
  });

  it('carries HEAD error codes in x-oss-err', async () => {
    const res = await fetch(`${server.url}/missing.png`, { method: 'HEAD' });
    expect(res.status).toBe(403);
    const xml = Buffer.from(res.headers.get('x-oss-err') ?? '', 'base64').toString();
    expect(xml).toContain('<Code>AccessDenied</Code>');
  });

  it('switches faults on over the admin endpoint', async () => {
    const res = await fetch(`${server.url}/__faults`, {
      method: 'POST',
      body: JSON.stringify({ mode: 'error', count: 1, status: 500 }),
    });
    expect(res.status).toBe(200);
    await expect(client().put('fault/a.png', Buffer.from('a'))).rejects.toMatchObject({ status: 500 });
    await client().put('fault/a.png', Buffer.from('a'));
    const state = (await (await fetch(`${server.url}/__state`)).json()) as { objects: string[] };
    expect(state.objects).toContain('fault/a.png');
  });

  it('keeps objects on disk across restarts', async () => {
    await client().put('persist/keep.png', Buffer.from('kept'));
    await server.close();
    server = await startOssServer({ dir, bucket, ...credentials });
    const got = await client().get('persist/keep.png');
    expect(Buffer.from(got.content as Buffer).toString()).toBe('kept');
    expect(await readFile(join(dir, 'mp.bin'))).toBeTruthy();
  });
});
