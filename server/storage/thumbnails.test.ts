import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundledFfmpegPath, renderDemoMp4, renderDemoPng } from '../providers/demo-media.ts';
import { LocalStorage, localFilesHandler } from './local.ts';
import { imageDimensions, sniffType } from './sniff.ts';
import { Thumbnailer } from './thumbnails.ts';

describe('local thumbnails', () => {
  let dir: string;
  let storage: LocalStorage;
  let server: Server;
  let origin: string;
  const madeBeforePutReturned: boolean[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'local-thumbs-'));
    storage = new LocalStorage({
      root: join(dir, 'objects'),
      publicPath: '/files',
      secret: 'thumb-secret',
      urlTtlSeconds: 60,
      thumbnailer: new Thumbnailer(bundledFfmpegPath()),
    });
    const png = join(dir, 'in.png');
    await writeFile(png, renderDemoPng(1024, 768, 3));
    await storage.put({ key: 'u/1/0.png', filePath: png, contentType: 'image/png', size: 0 });
    madeBeforePutReturned.push(existsSync(storage.thumbnailPathOf('u/1/0.png')));
    const mp4 = join(dir, 'in.mp4');
    await writeFile(mp4, await renderDemoMp4({ width: 832, height: 480, durationSeconds: 2, seed: 4 }));
    await storage.put({ key: 'u/1/1.mp4', filePath: mp4, contentType: 'video/mp4', size: 0 });
    madeBeforePutReturned.push(existsSync(storage.thumbnailPathOf('u/1/1.mp4')));
    const app = express();
    app.use('/files', localFilesHandler(storage));
    server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
    await rm(dir, { recursive: true, force: true });
  });

  const jpegSize = async (url: string) => {
    const res = await fetch(`${origin}${url}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('image/jpeg');
    const bytes = new Uint8Array(await res.arrayBuffer());
    const type = sniffType(bytes);
    expect(type?.contentType).toBe('image/jpeg');
    return imageDimensions(type!, bytes);
  };

  it('makes the thumbnails in the background once the objects are stored, before any request', async () => {
    // beforeAll only stored the objects; nothing has asked for a thumbnail yet.
    expect(madeBeforePutReturned).toEqual([false, false]);
    await storage.options.thumbnailer!.idle();
    for (const key of ['u/1/0.png', 'u/1/1.mp4']) {
      expect(existsSync(storage.thumbnailPathOf(key)), key).toBe(true);
    }
  });

  it('runs ffmpeg at a lower priority in the background than for a request, and not after stop', async () => {
    // A stand-in ffmpeg that notes its niceness (field 19 of /proc/<pid>/stat) under the name it was given.
    const tool = join(dir, 'nice-ffmpeg.sh');
    const log = join(dir, 'nice.log');
    await writeFile(
      tool,
      `#!/bin/sh\nsleep 0.2\nfor a; do last=$a; done\necho "$(basename "$last") $(cut -d' ' -f19 /proc/$$/stat)" >> ${log}\nexit 1\n`,
      { mode: 0o755 },
    );
    const thumbnailer = new Thumbnailer(tool);
    const src = join(dir, 'in.png');
    thumbnailer.soon(src, join(dir, 'nice', 'background.jpg'), 'image');
    await thumbnailer.idle();
    expect(await thumbnailer.ensure(src, join(dir, 'nice', 'requested.jpg'), 'image')).toBe(false);
    thumbnailer.soon(src, join(dir, 'nice', 'stopped.jpg'), 'image');
    await thumbnailer.stop();
    await new Promise((r) => setTimeout(r, 400));
    const lines = (await readFile(log, 'utf8')).trim().split('\n');
    expect(lines.map((l) => l.replace(/^(\w+)\.jpg\.\w+\.jpg/, '$1'))).toEqual([
      'background 10',
      'requested 0',
    ]);
  });

  it('runs at most two ffmpeg at once for requests', async () => {
    // A stand-in ffmpeg that marks its start and end in a log, a moment apart.
    const tool = join(dir, 'slow-ffmpeg.sh');
    const log = join(dir, 'overlap.log');
    await writeFile(tool, `#!/bin/sh\necho + >> ${log}\nsleep 0.2\necho - >> ${log}\nexit 1\n`, {
      mode: 0o755,
    });
    const thumbnailer = new Thumbnailer(tool);
    const results = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        thumbnailer.ensure(join(dir, 'in.png'), join(dir, 'overlap', `${i}.jpg`), 'image'),
      ),
    );
    expect(results).toEqual(Array(6).fill(false));
    let running = 0;
    let most = 0;
    for (const mark of (await readFile(log, 'utf8')).trim().split('\n')) {
      running += mark === '+' ? 1 : -1;
      most = Math.max(most, running);
    }
    expect(most).toBe(2);
  });

  it('logs a thumbnail it cannot write and carries on (no unhandled rejection in the background)', async () => {
    const blocked = join(dir, 'blocked');
    await writeFile(blocked, 'a file where a folder should be');
    const thumbnailer = new Thumbnailer(bundledFfmpegPath());
    thumbnailer.soon(join(dir, 'in.png'), join(blocked, 'sub', 'thumb.jpg'), 'image');
    await thumbnailer.idle();
    expect(await thumbnailer.ensure(join(dir, 'in.png'), join(blocked, 'other.jpg'), 'image')).toBe(false);
    // The queue still works after the failures.
    thumbnailer.soon(join(dir, 'in.png'), join(dir, 'after-failure', 'thumb.jpg'), 'image');
    await thumbnailer.idle();
    expect(existsSync(join(dir, 'after-failure', 'thumb.jpg'))).toBe(true);
  });

  it('serves a resized JPEG for an image and a poster frame for a video', async () => {
    expect(await jpegSize(storage.urlFor('u/1/0.png', { thumbnail: 'image' }))).toEqual({
      width: 512,
      height: 384,
    });
    expect(await jpegSize(storage.urlFor('u/1/1.mp4', { thumbnail: 'video' }))).toEqual({
      width: 512,
      height: 296,
    });
  });

  it('stores the object even when no thumbnail can be made, and serves the image itself', async () => {
    const broken = new LocalStorage({
      root: join(dir, 'broken-objects'),
      publicPath: '/files',
      secret: 'thumb-secret',
      urlTtlSeconds: 60,
      thumbnailer: new Thumbnailer(join(dir, 'no-such-ffmpeg')),
    });
    const png = join(dir, 'in2.png');
    await writeFile(png, renderDemoPng(64, 64, 5));
    const stored = await broken.put({ key: 'u/2/0.png', filePath: png, contentType: 'image/png', size: 0 });
    expect(stored.key).toBe('u/2/0.png');
    expect(await broken.head('u/2/0.png')).toMatchObject({ contentType: 'image/png' });
    expect(existsSync(broken.thumbnailPathOf('u/2/0.png'))).toBe(false);
  });

  it('refuses a thumbnail flag added to, or removed from, a signed URL', async () => {
    const plain = storage.urlFor('u/1/0.png');
    expect((await fetch(`${origin}${plain}&th=1`)).status).toBe(403);
    const thumb = storage.urlFor('u/1/0.png', { thumbnail: 'image' });
    expect((await fetch(`${origin}${thumb.replace('&th=1', '')}`)).status).toBe(403);
  });

  it('removes the cached thumbnail with the object', async () => {
    await jpegSize(storage.urlFor('u/1/0.png', { thumbnail: 'image' }));
    expect(existsSync(storage.thumbnailPathOf('u/1/0.png'))).toBe(true);
    await storage.delete('u/1/0.png');
    expect(existsSync(storage.thumbnailPathOf('u/1/0.png'))).toBe(false);
  });
});
