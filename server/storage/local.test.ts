import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalStorage, localFilesHandler } from './local.ts';

let root: string;
let source: string;
let server: Server;
let origin: string;
let clock = Date.now();
const data = Buffer.from(Array.from({ length: 1000 }, (_, i) => i % 256));

const storage = () =>
  new LocalStorage({
    root,
    publicPath: '/files',
    secret: 'local-secret',
    urlTtlSeconds: 60,
    now: () => clock,
  });

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'local-storage-'));
  source = await mkdtemp(join(tmpdir(), 'local-source-'));
  await writeFile(join(source, 'clip.mp4'), data);
  const app = express();
  app.use('/files', localFilesHandler(storage()));
  server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  await rm(root, { recursive: true, force: true });
  await rm(source, { recursive: true, force: true });
});

describe('LocalStorage', () => {
  const key = 'outputs/u1/2026/03/04/job1/0.mp4';

  it('puts, heads and deletes an object on disk', async () => {
    const local = storage();
    const stored = await local.put({
      key,
      filePath: join(source, 'clip.mp4'),
      contentType: 'video/mp4',
      size: data.length,
    });
    expect(stored).toEqual({ key, url: `/files/${key}`, size: 1000, contentType: 'video/mp4' });
    expect(await local.head(key)).toEqual({ size: 1000, contentType: 'video/mp4' });
    expect(await readdir(join(root, 'outputs/u1/2026/03/04/job1'))).toEqual(['0.mp4']); // no temp file left
    await local.delete('outputs/u1/2026/03/04/job1/missing.mp4'); // idempotent
    const other = 'outputs/u1/2026/03/04/job1/1.mp4';
    await local.put({ key: other, filePath: join(source, 'clip.mp4'), contentType: 'video/mp4', size: 1000 });
    await local.delete(other);
    expect(await local.head(other)).toBeNull();
  });

  it('refuses keys that leave the root', async () => {
    await expect(
      storage().put({
        key: '../escape.png',
        filePath: join(source, 'clip.mp4'),
        contentType: 'image/png',
        size: 1,
      }),
    ).rejects.toThrow();
    expect(() => storage().pathOf('a/../../b.png')).toThrow();
  });

  it('serves a signed URL, whole and by byte range', async () => {
    const url = storage().urlFor(key);
    expect(url).toMatch(/^\/files\/outputs\/u1\/2026\/03\/04\/job1\/0\.mp4\?exp=\d+&sig=/);
    const whole = await fetch(origin + url);
    expect(whole.status).toBe(200);
    expect(whole.headers.get('accept-ranges')).toBe('bytes');
    expect(whole.headers.get('content-type')).toBe('video/mp4');
    expect(Buffer.from(await whole.arrayBuffer())).toEqual(data);

    const ranged = await fetch(origin + url, { headers: { Range: 'bytes=100-199' } });
    expect(ranged.status).toBe(206);
    expect(ranged.headers.get('content-range')).toBe('bytes 100-199/1000');
    expect(Buffer.from(await ranged.arrayBuffer())).toEqual(data.subarray(100, 200));

    const suffix = await fetch(origin + url, { headers: { Range: 'bytes=-10' } });
    expect(Buffer.from(await suffix.arrayBuffer())).toEqual(data.subarray(990));

    const beyond = await fetch(origin + url, { headers: { Range: 'bytes=5000-' } });
    expect(beyond.status).toBe(416);
  });

  it('answers a missing file, a signed URL of a deleted one and a key outside the root with a JSON 404', async () => {
    const gone = 'outputs/u1/2026/03/04/job1/gone.mp4';
    for (const path of [storage().urlFor(gone), '/files/', '/files/%00', '/files/%E0%A4%A']) {
      const res = await fetch(origin + path);
      expect(res.status, path).toBe(404);
      expect(res.headers.get('content-type'), path).toMatch(/^application\/json/);
      expect(await res.json(), path).toEqual({ error: 'No such file' });
    }
  });

  it('adds a download disposition that is covered by the signature', async () => {
    const url = storage().urlFor(key, { download: 'clip.mp4' });
    const res = await fetch(origin + url);
    expect(res.headers.get('content-disposition')).toContain('attachment; filename="clip.mp4"');
    const swapped = url.replace('dl=clip.mp4', 'dl=other.mp4');
    expect((await fetch(origin + swapped)).status).toBe(403);
  });

  it('signs download names and keys that need encoding, and serves them', async () => {
    const odd = 'outputs/u1/2026/03/04/job1/第 1 个 & co.mp4';
    const local = storage();
    await local.put({ key: odd, filePath: join(source, 'clip.mp4'), contentType: 'video/mp4', size: 1000 });
    const name = '灯笼 & "lanterns" 100%.mp4';
    const url = local.urlFor(odd, { download: name });
    const parsed = new URL(url, origin);
    expect(decodeURIComponent(parsed.pathname)).toBe(`/files/${odd}`);
    expect(parsed.searchParams.get('dl')).toBe(name);
    expect([...parsed.searchParams.keys()]).toEqual(['exp', 'dl', 'sig']);
    const res = await fetch(origin + url);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-disposition')).toContain(`filename*=UTF-8''${encodeURIComponent(name)}`);
    const thumb = new URL(local.urlFor(odd, { thumbnail: 'video' }), origin);
    expect([...thumb.searchParams.keys()]).toEqual(['exp', 'th', 'sig']);
  });

  it('hands out the same URL for an object within an expiry step, valid for at least the lifetime', async () => {
    const local = storage();
    const saved = clock;
    try {
      const expOf = (url: string) => Number(/exp=(\d+)/.exec(url)?.[1]);
      const first = local.urlFor(key);
      const nowSeconds = Math.floor(clock / 1000);
      expect(expOf(first)).toBeGreaterThanOrEqual(nowSeconds + 60);
      expect(expOf(first)).toBeLessThan(nowSeconds + 60 + 5);
      expect(expOf(first) % 5).toBe(0);
      // Within the step: the same URL (browsers keep the image cached), still valid.
      const stepLeft = (expOf(first) - 60) * 1000 - clock;
      clock += Math.max(0, stepLeft - 1);
      expect(local.urlFor(key)).toBe(first);
      expect(local.urlFor(key, { thumbnail: 'video' })).not.toBe(first);
      expect((await fetch(origin + first)).status).toBe(200);
      // The next step: a new expiry and a new signature.
      clock += 5_000;
      const next = local.urlFor(key);
      expect(expOf(next)).toBe(expOf(first) + 5);
      expect((await fetch(origin + next)).status).toBe(200);
    } finally {
      clock = saved;
    }
  });

  it('refuses tampered, unsigned and expired URLs', async () => {
    const url = storage().urlFor(key);
    expect(
      (await fetch(origin + url.replace(/sig=(.)/, (_m, c: string) => `sig=${c === 'A' ? 'B' : 'A'}`)))
        .status,
    ).toBe(403);
    expect((await fetch(`${origin}/files/${key}`)).status).toBe(403);
    expect((await fetch(origin + url.replace('0.mp4', '1.mp4'))).status).toBe(403);
    const exp = Number(/exp=(\d+)/.exec(url)?.[1]);
    expect((await fetch(origin + url.replace(`exp=${exp}`, `exp=${exp + 1000}`))).status).toBe(403);

    const saved = clock;
    // 60 s of lifetime, rounded up to a 5 s step: expired 66 s later at the latest.
    clock += 66_000;
    try {
      expect((await fetch(origin + url)).status).toBe(403);
    } finally {
      clock = saved;
    }
    expect((await fetch(origin + url)).status).toBe(200);
  });
});
