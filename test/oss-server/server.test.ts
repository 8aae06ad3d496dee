import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OSS from 'ali-oss';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type OssServer, startOssServer } from './server.ts';

const credentials = { accessKeyId: 'test-ak', accessKeySecret: 'test-secret' };
const bucket = 'test-bucket';

let dir: string;
let server: OssServer;

const client = (overrides: Partial<OSS.Options> = {}) =>
  new OSS({ ...credentials, bucket, endpoint: server.url, cname: true, timeout: 5_000, ...overrides });

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'oss-server-test-'));
  server = await startOssServer({ dir, bucket, ...credentials });
});

afterAll(async () => {
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

beforeEach(() => server.faults.clear());

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

  it('serves a presigned URL until it expires, then answers 403', async () => {
    const oss = client();
    await oss.put('signed/v.mp4', Buffer.from('signed body'));
    const url = oss.signatureUrl('signed/v.mp4', {
      expires: 60,
      response: { 'content-disposition': 'attachment; filename="v.mp4"' },
    });
    const ok = await fetch(url);
    expect(ok.status).toBe(200);
    expect(ok.headers.get('content-disposition')).toBe('attachment; filename="v.mp4"');
    expect(await ok.text()).toBe('signed body');

    const tampered = await fetch(url.replace('signed/v.mp4', 'signed/w.mp4'));
    expect(tampered.status).toBe(403);

    const expired = oss.signatureUrl('signed/v.mp4', { expires: -10 });
    const refused = await fetch(expired);
    expect(refused.status).toBe(403);
    const xml = await refused.text();
    expect(xml).toContain('<Code>AccessDenied</Code>');
    expect(xml).toContain('Request has expired.');
  });

  it('answers an x-oss-process GET with the object instead of processing it', async () => {
    const oss = client();
    await oss.put('thumbs/i.png', Buffer.from('png bytes'));
    const res = await fetch(oss.signatureUrl('thumbs/i.png', { process: 'image/resize,w_512' }));
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
