import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AppError } from '../../shared/errors.ts';
import { type OssServer, startOssServer } from '../../test/oss-server/server.ts';
import { keyForOutput } from './keys.ts';
import { LocalStorage } from './local.ts';
import { OssStorage } from './oss.ts';
import { INLINE_MAX_BYTES, type PersistDeps, persist } from './persist.ts';
import { isPrivateAddress } from './safe-fetch.ts';

const credentials = { accessKeyId: 'persist-ak', accessKeySecret: 'persist-secret' };
const bucket = 'persist-bucket';

let ossDir: string;
let tmp: string;
let localRoot: string;
let oss: OssServer;
let files: Server;
let origin: string;
const routes = new Map<string, (res: ServerResponse) => void>();

const png = (width: number, height: number): Buffer => {
  const image = new PNG({ width, height });
  image.data.fill(200);
  return PNG.sync.write(image);
};

const jpegHeader = (width: number, height: number): Buffer =>
  Buffer.from([
    0xff,
    0xd8,
    0xff,
    0xe0,
    0x00,
    0x10,
    0x4a,
    0x46,
    0x49,
    0x46,
    0x00,
    0x01,
    0x01,
    0x00,
    0x00,
    0x01,
    0x00,
    0x01,
    0x00,
    0x00,
    0xff,
    0xc0,
    0x00,
    0x11,
    0x08,
    height >> 8,
    height & 0xff,
    width >> 8,
    width & 0xff,
    0x03,
    0x01,
    0x22,
    0x00,
    0x02,
    0x11,
    0x01,
    0x03,
    0x11,
    0x01,
    0xff,
    0xd9,
  ]);

const box = (type: string, body: Buffer): Buffer => {
  const header = Buffer.alloc(8);
  header.writeUInt32BE(8 + body.length, 0);
  header.write(type, 4, 'latin1');
  return Buffer.concat([header, body]);
};

/** ftyp, a large mdat, then moov/mvhd at the end (timescale 1000, duration 4500 → 4.5 s). */
const mp4 = (mdatBytes: number): Buffer => {
  const mvhd = Buffer.alloc(100);
  mvhd.writeUInt32BE(1000, 12);
  mvhd.writeUInt32BE(4500, 16);
  return Buffer.concat([
    box('ftyp', Buffer.from('isom\0\0\x02\0isomiso2mp41', 'latin1')),
    box('mdat', Buffer.alloc(mdatBytes, 1)),
    box('moov', box('mvhd', mvhd)),
  ]);
};

const serve = (path: string, handler: (res: ServerResponse) => void) => {
  routes.set(path, handler);
  return `${origin}${path}`;
};

const ossStorage = () =>
  new OssStorage({
    bucket,
    region: 'oss-cn-hangzhou',
    endpoint: oss.url,
    cname: true,
    ...credentials,
    urlTtlSeconds: 600,
    retries: 2,
    retryBaseDelayMs: 10,
  });

const deps = (overrides: Partial<PersistDeps> = {}): PersistDeps => ({
  storage: ossStorage(),
  tmpDir: tmp,
  allowPrivateNetwork: true,
  ...overrides,
});

const keyFor = (jobId: string) =>
  keyForOutput({ userId: 'u7', jobId, index: 0, date: new Date('2026-05-06T23:30:00Z') });

const failure = async (promise: Promise<unknown>): Promise<AppError> => {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(AppError);
  return error as AppError;
};

beforeAll(async () => {
  ossDir = await mkdtemp(join(tmpdir(), 'persist-oss-'));
  tmp = await mkdtemp(join(tmpdir(), 'persist-tmp-'));
  localRoot = await mkdtemp(join(tmpdir(), 'persist-local-'));
  oss = await startOssServer({ dir: ossDir, bucket, ...credentials });
  files = createServer((req, res) => {
    const handler = routes.get(req.url ?? '');
    if (handler) handler(res);
    else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => files.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(files.address() as AddressInfo).port}`;
});

afterAll(async () => {
  files.closeAllConnections();
  await new Promise((resolve) => files.close(resolve));
  await oss.close();
  for (const dir of [ossDir, tmp, localRoot]) await rm(dir, { recursive: true, force: true });
});

beforeEach(() => oss.faults.clear());

describe('persist', () => {
  it('stores a downloaded PNG with its real type, hash and size, and cleans up', async () => {
    const bytes = png(64, 48);
    const url = serve('/ok.png', (res) => res.writeHead(200, { 'Content-Type': 'image/png' }).end(bytes));
    const stages: string[] = [];
    const result = await persist(deps(), {
      source: { url },
      kind: 'image',
      keyFor: keyFor('job-png'),
      onProgress: (stage) => stages.push(stage),
    });
    expect(result).toMatchObject({
      key: 'outputs/u7/2026/05/06/job-png/0.png',
      url: `${oss.url}/outputs/u7/2026/05/06/job-png/0.png`,
      size: bytes.length,
      contentType: 'image/png',
      width: 64,
      height: 48,
      sourceHost: new URL(origin).host,
    });
    const hash = createHash('sha256');
    for await (const chunk of oss.readObject(result.key)) hash.update(chunk as Buffer);
    expect(hash.digest('hex')).toBe(result.sha256);
    expect(result.sha256).toBe(createHash('sha256').update(bytes).digest('hex'));
    expect(stages).toContain('downloading');
    expect(stages).toContain('uploading');
    expect(await readdir(tmp)).toEqual([]);
  });

  it('stores inline provider bytes and reads JPEG dimensions', async () => {
    const local = new LocalStorage({ root: localRoot, publicPath: '/files', secret: 's', urlTtlSeconds: 60 });
    const bytes = jpegHeader(320, 200);
    const result = await persist(deps({ storage: local }), {
      source: { bytes, contentType: 'image/png' }, // the declared type is ignored; the bytes decide
      kind: 'image',
      keyFor: keyFor('job-jpg'),
    });
    expect(result).toMatchObject({ contentType: 'image/jpeg', width: 320, height: 200, size: bytes.length });
    expect(result.key.endsWith('/0.jpg')).toBe(true);
    expect(result.url).toBe(`/files/${result.key}`);
    expect(await readFile(join(localRoot, result.key))).toEqual(bytes);
    expect(await readdir(tmp)).toEqual([]);
  });

  it('stores inline bytes to OSS from memory, with no temp file, and reads an inline MP4', async () => {
    const storage = ossStorage();
    const staged: string[][] = [];
    // What the temp folder holds while each upload runs: nothing, on the inline path.
    const watching: PersistDeps['storage'] = Object.assign(Object.create(storage), {
      put: async (input: Parameters<typeof storage.put>[0]) => {
        staged.push(await readdir(tmp));
        return storage.put(input);
      },
    });
    const image = png(40, 30);
    const stored = await persist(deps({ storage: watching }), {
      source: { bytes: new Uint8Array(image), contentType: 'image/png' },
      kind: 'image',
      keyFor: keyFor('job-inline-oss'),
    });
    expect(stored).toMatchObject({ contentType: 'image/png', width: 40, height: 30, size: image.length });
    expect(stored.sha256).toBe(createHash('sha256').update(image).digest('hex'));
    const chunks: Buffer[] = [];
    for await (const chunk of oss.readObject(stored.key)) chunks.push(chunk as Buffer);
    expect(Buffer.concat(chunks)).toEqual(image);

    const clip = mp4(64 * 1024);
    const video = await persist(deps({ storage: watching }), {
      source: { bytes: clip, contentType: 'video/mp4' },
      kind: 'video',
      keyFor: keyFor('job-inline-mp4'),
    });
    expect(video).toMatchObject({ contentType: 'video/mp4', durationSeconds: 4.5, size: clip.length });
    expect(staged).toEqual([[], []]);
  });

  it('takes the digests a provider made with its bytes: the SHA-256 recorded, the MD5 sent for OSS to check', async () => {
    const image = png(24, 18);
    const digests = {
      sha256: createHash('sha256').update(image).digest('hex'),
      md5: createHash('md5').update(image).digest('base64'),
    };
    const stored = await persist(deps({ storage: ossStorage() }), {
      source: { bytes: new Uint8Array(image), contentType: 'image/png', digests },
      kind: 'image',
      keyFor: keyFor('job-digests'),
    });
    expect(stored.sha256).toBe(digests.sha256);
    const chunks: Buffer[] = [];
    for await (const chunk of oss.readObject(stored.key)) chunks.push(chunk as Buffer);
    expect(Buffer.concat(chunks)).toEqual(image);

    // The MD5 is the one sent: OSS refuses bytes that do not match it, and nothing is stored.
    const wrong = { ...digests, md5: createHash('md5').update('other bytes').digest('base64') };
    const error = await failure(
      persist(deps({ storage: ossStorage() }), {
        source: { bytes: new Uint8Array(image), contentType: 'image/png', digests: wrong },
        kind: 'image',
        keyFor: keyFor('job-digests-wrong'),
      }),
    );
    expect(error.code).toBe('STORAGE_UPLOAD_FAILED');
    expect(oss.objectKeys().some((k) => k.includes('job-digests-wrong'))).toBe(false);
  });

  it(`stages bytes over ${INLINE_MAX_BYTES / 1024 / 1024} MB through a temp file, removed afterwards`, async () => {
    const big = Buffer.alloc(INLINE_MAX_BYTES + 1);
    png(8, 8).copy(big);
    const storage = ossStorage();
    let staged: string[] = [];
    const watching: PersistDeps['storage'] = Object.assign(Object.create(storage), {
      put: async (input: Parameters<typeof storage.put>[0]) => {
        staged = await readdir(tmp);
        return storage.put(input);
      },
    });
    const stored = await persist(deps({ storage: watching }), {
      source: { bytes: big, contentType: 'image/png' },
      kind: 'image',
      keyFor: keyFor('job-big-inline'),
    });
    expect(stored.size).toBe(big.length);
    expect(staged).toHaveLength(1);
    expect(await readdir(tmp)).toEqual([]);
  });

  it('reads the MP4 duration when moov comes after the media data', async () => {
    const bytes = mp4(3 * 1024 * 1024);
    const url = serve('/clip.mp4', (res) => res.writeHead(200, { 'Content-Type': 'video/mp4' }).end(bytes));
    const result = await persist(deps(), { source: { url }, kind: 'video', keyFor: keyFor('job-mp4') });
    expect(result).toMatchObject({ contentType: 'video/mp4', durationSeconds: 4.5, size: bytes.length });
    expect(oss.objectKeys()).toContain(result.key);
  });

  it('stores an MP4 whose boxes cannot be read, without width, height or duration', async () => {
    const broken = Buffer.concat([
      box('ftyp', Buffer.from('isom\0\0\x02\0isomiso2mp41', 'latin1')),
      Buffer.from([0, 0, 0, 3]),
      Buffer.from('moov garbage that claims a 3-byte box', 'latin1'),
    ]);
    const url = serve('/broken.mp4', (res) =>
      res.writeHead(200, { 'Content-Type': 'video/mp4' }).end(broken),
    );
    const result = await persist(deps(), {
      source: { url },
      kind: 'video',
      keyFor: keyFor('job-broken-mp4'),
    });
    expect(result.contentType).toBe('video/mp4');
    expect(result.size).toBe(broken.length);
    expect(result.width).toBeUndefined();
    expect(result.height).toBeUndefined();
    expect(result.durationSeconds).toBeUndefined();
    expect(oss.objectKeys()).toContain(result.key);
  });

  it('refuses an HTML page served as image/png', async () => {
    const url = serve('/fake.png', (res) =>
      res
        .writeHead(200, { 'Content-Type': 'image/png' })
        .end('<!doctype html><html><body>Expired</body></html>'),
    );
    const error = await failure(
      persist(deps(), { source: { url }, kind: 'image', keyFor: keyFor('job-html') }),
    );
    expect(error.code).toBe('OUTPUT_INVALID');
    expect(oss.objectKeys().some((k) => k.includes('job-html'))).toBe(false);
    expect(await readdir(tmp)).toEqual([]);
  });

  it('refuses a video where an image was asked for', async () => {
    const error = await failure(
      persist(deps(), {
        source: { bytes: mp4(10), contentType: 'video/mp4' },
        kind: 'image',
        keyFor: keyFor('j'),
      }),
    );
    expect(error.code).toBe('OUTPUT_INVALID');
  });

  it('stops a stream that goes over the size cap, even without a Content-Length', async () => {
    const url = serve('/endless.png', (res) => {
      res.writeHead(200, { 'Content-Type': 'image/png' });
      res.write(png(8, 8));
      const chunk = Buffer.alloc(64 * 1024);
      const timer = setInterval(() => {
        if (!res.write(chunk) && res.destroyed) clearInterval(timer);
      }, 1);
      res.on('close', () => clearInterval(timer));
    });
    const error = await failure(
      persist(deps({ maxImageBytes: 1024 * 1024 }), {
        source: { url },
        kind: 'image',
        keyFor: keyFor('job-big'),
      }),
    );
    expect(error.code).toBe('OUTPUT_INVALID');
    expect(error.message).toContain('limit');
    expect(await readdir(tmp)).toEqual([]);
  });

  it('refuses a declared Content-Length over the cap before reading it', async () => {
    const url = serve('/declared.png', (res) =>
      res.writeHead(200, { 'Content-Type': 'image/png', 'Content-Length': String(5 * 1024 * 1024) }).end(),
    );
    const error = await failure(
      persist(deps({ maxImageBytes: 1024 * 1024 }), {
        source: { url },
        kind: 'image',
        keyFor: keyFor('job-cl'),
      }),
    );
    expect(error.code).toBe('OUTPUT_INVALID');
  });

  it('refuses a redirect to the cloud metadata address', async () => {
    let followed = 0;
    const url = serve('/redirect.png', (res) => {
      followed += 1;
      res.writeHead(302, { Location: 'http://169.254.169.254/latest/meta-data/' }).end();
    });
    const error = await failure(
      persist(deps({ downloadTimeoutMs: 5_000 }), {
        source: { url },
        kind: 'image',
        keyFor: keyFor('job-meta'),
      }),
    );
    expect(followed).toBe(1);
    expect(error.code).toBe('OUTPUT_INVALID');
    expect(error.message).toContain('169.254.169.254');
  });

  it('follows a redirect between allowed hosts', async () => {
    const bytes = png(10, 20);
    serve('/final.png', (res) => res.writeHead(200).end(bytes));
    const url = serve('/hop.png', (res) => res.writeHead(301, { Location: '/final.png' }).end());
    const result = await persist(deps(), { source: { url }, kind: 'image', keyFor: keyFor('job-hop') });
    expect(result).toMatchObject({ width: 10, height: 20 });
  });

  it('refuses a loopback URL unless private network fetches are allowed', async () => {
    let hits = 0;
    const url = serve('/local.png', (res) => {
      hits += 1;
      res.writeHead(200).end(png(4, 4));
    });
    const error = await failure(
      persist(deps({ allowPrivateNetwork: false }), {
        source: { url },
        kind: 'image',
        keyFor: keyFor('job-lo'),
      }),
    );
    expect(error.code).toBe('OUTPUT_INVALID');
    expect(hits).toBe(0);
    expect(await readdir(tmp)).toEqual([]);
  });

  it('refuses hosts outside the allow-list', async () => {
    const url = serve('/listed.png', (res) => res.writeHead(200).end(png(4, 4)));
    const error = await failure(
      persist(deps({ allowedHosts: ['dashscope-result.oss-cn-beijing.aliyuncs.com'] }), {
        source: { url },
        kind: 'image',
        keyFor: keyFor('job-list'),
      }),
    );
    expect(error.code).toBe('OUTPUT_INVALID');
  });

  it('classifies private and public addresses', () => {
    for (const address of ['127.0.0.1', '10.1.2.3', '172.20.0.1', '192.168.1.1', '169.254.169.254']) {
      expect(isPrivateAddress(address), address).toBe(true);
    }
    for (const address of ['100.100.100.200', '::1', 'fd00::1', 'fe80::1', '::ffff:127.0.0.1']) {
      expect(isPrivateAddress(address), address).toBe(true);
    }
    for (const address of ['8.8.8.8', '47.96.1.1', '2001:4860:4860::8888']) {
      expect(isPrivateAddress(address), address).toBe(false);
    }
  });

  it('gives STORAGE_UPLOAD_FAILED when the upload fails, and leaves nothing behind', async () => {
    const url = serve('/upfail.png', (res) => res.writeHead(200).end(png(4, 4)));
    oss.faults.failNext(Number.POSITIVE_INFINITY, { operation: 'PutObject' });
    const error = await failure(
      persist(deps(), { source: { url }, kind: 'image', keyFor: keyFor('job-up') }),
    );
    expect(error.code).toBe('STORAGE_UPLOAD_FAILED');
    expect(oss.objectKeys().some((k) => k.includes('job-up'))).toBe(false);
    expect(await readdir(tmp)).toEqual([]);
  });
});
