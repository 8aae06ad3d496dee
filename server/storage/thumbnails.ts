import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { dirname } from 'node:path';

/** Longest side of a gallery thumbnail, as OSS's `image/resize,w_512` gives. */
export const THUMBNAIL_WIDTH = 512;

const run = (ffmpegPath: string, args: string[]): Promise<boolean> =>
  new Promise((resolve) => {
    const child = spawn(ffmpegPath, args, { stdio: 'ignore' });
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.once('error', () => resolve(false));
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve(code === 0);
    });
  });

const exists = (path: string) =>
  stat(path).then(
    (s) => s.isFile() && s.size > 0,
    () => false,
  );

/**
 * Makes JPEG thumbnails for local storage with ffmpeg (what OSS's x-oss-process does in the cloud):
 * a resized image, or a video's frame at 1 s as its poster. Each is made once: when the object is stored
 * (LocalStorage.put), or on first request for objects stored before or whose thumbnail failed then.
 */
export class Thumbnailer {
  private readonly inFlight = new Map<string, Promise<boolean>>();

  constructor(private readonly ffmpegPath: string) {}

  /** Ensures `target` holds a thumbnail of `source`; false when ffmpeg could not make one. */
  ensure(source: string, target: string, kind: 'image' | 'video'): Promise<boolean> {
    const pending = this.inFlight.get(target);
    if (pending) return pending;
    const work = this.make(source, target, kind).finally(() => this.inFlight.delete(target));
    this.inFlight.set(target, work);
    return work;
  }

  private async make(source: string, target: string, kind: 'image' | 'video'): Promise<boolean> {
    if (await exists(target)) return true;
    await mkdir(dirname(target), { recursive: true });
    const temp = `${target}.${randomBytes(6).toString('hex')}.jpg`;
    const scale = `scale='min(${THUMBNAIL_WIDTH},iw)':-2`;
    const frame = (seek: string) => [
      '-v',
      'error',
      '-y',
      ...(kind === 'video' ? ['-ss', seek] : []),
      '-i',
      source,
      '-frames:v',
      '1',
      '-vf',
      scale,
      '-q:v',
      '4',
      temp,
    ];
    // A clip shorter than a second has no frame at 1 s: take its first one.
    const ok =
      (await run(this.ffmpegPath, frame('1'))) && (await exists(temp))
        ? true
        : kind === 'video' && (await run(this.ffmpegPath, frame('0'))) && (await exists(temp));
    if (!ok) {
      await rm(temp, { force: true });
      return false;
    }
    await rename(temp, target);
    return true;
  }
}
