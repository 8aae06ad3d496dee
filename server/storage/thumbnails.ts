import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { setPriority } from 'node:os';
import { dirname } from 'node:path';
import { logger } from '../logger.ts';
import { Semaphore } from '../services/semaphore.ts';

/** Longest side of a gallery thumbnail, as OSS's `image/resize,w_512` gives. */
export const THUMBNAIL_WIDTH = 512;

/** Niceness of ffmpeg making a thumbnail ahead of any request: jobs and requests go first on a busy machine. */
const BACKGROUND_NICENESS = 10;

const exists = (path: string) =>
  stat(path).then(
    (s) => s.isFile() && s.size > 0,
    () => false,
  );

interface Wanted {
  source: string;
  target: string;
  kind: 'image' | 'video';
}

/**
 * Makes JPEG thumbnails for local storage with ffmpeg (what OSS's x-oss-process does in the cloud):
 * a resized image, or a video's frame at 1 s as its poster. Each is made once: soon after the object is
 * stored (`soon`, from LocalStorage.put), or on first request (`ensure`) for objects stored before, whose
 * thumbnail failed, or that a request reaches first.
 *
 * Thumbnails made ahead of any request are not part of storing: they wait in a queue, one ffmpeg at a time
 * per process, at a lower CPU priority, so a job's persist step does not wait for (or compete with) them.
 */
export class Thumbnailer {
  private readonly inFlight = new Map<string, Promise<boolean>>();
  /** Thumbnails to make ahead of any request, by target, oldest first. */
  private readonly queue = new Map<string, Wanted>();
  private background: Promise<unknown> | null = null;
  private readonly children = new Set<ChildProcess>();
  /**
   * ffmpeg runs for requests, at most two at once: a gallery of missing thumbnails asked for at once
   * (or a client asking on purpose) must not start one process per request on a small machine. Past
   * 1,000 waiting, a request gets the object itself.
   */
  private readonly forRequests = new Semaphore(2, 1000);
  private stopped = false;

  constructor(private readonly ffmpegPath: string) {}

  /** Ensures `target` holds a thumbnail of `source`; false when ffmpeg could not make one. */
  ensure(source: string, target: string, kind: 'image' | 'video'): Promise<boolean> {
    this.queue.delete(target);
    return this.start({ source, target, kind }, 0);
  }

  /** Makes the thumbnail in the background, after those asked for before it; a request may come first. */
  soon(source: string, target: string, kind: 'image' | 'video'): void {
    if (this.stopped || this.inFlight.has(target)) return;
    this.queue.set(target, { source, target, kind });
    this.pump();
  }

  /** Settles when no thumbnail is queued or being made in the background. */
  async idle(): Promise<void> {
    while (this.background) await this.background;
  }

  /** Drops the queue and ends ffmpeg runs still going (at shutdown): a missing thumbnail is made on demand. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.queue.clear();
    for (const child of this.children) child.kill('SIGKILL');
    await Promise.allSettled(this.inFlight.values());
  }

  private pump() {
    if (this.background) return;
    const next = this.queue.values().next();
    if (next.done) return;
    this.queue.delete(next.value.target);
    this.background = this.start(next.value, BACKGROUND_NICENESS).finally(() => {
      this.background = null;
      this.pump();
    });
  }

  private start(wanted: Wanted, niceness: number): Promise<boolean> {
    const pending = this.inFlight.get(wanted.target);
    if (pending) return pending;
    // A thumbnail that cannot be made (a full disk, a folder that is not writable) is only missing: the
    // request for it serves the object itself. Nothing here may reject unhandled (the background queue
    // has no caller to catch it), so a failure is logged and answered false.
    const made = niceness
      ? this.make(wanted, niceness)
      : this.forRequests.run(null, () => this.make(wanted, 0));
    const work = made
      .catch((error: unknown) => {
        logger.warn('thumbnail could not be made', { target: wanted.target, error });
        return false;
      })
      .finally(() => this.inFlight.delete(wanted.target));
    this.inFlight.set(wanted.target, work);
    return work;
  }

  private run(args: string[], niceness: number): Promise<boolean> {
    if (this.stopped) return Promise.resolve(false);
    return new Promise((resolve) => {
      const child = spawn(this.ffmpegPath, args, { stdio: 'ignore' });
      this.children.add(child);
      if (niceness && child.pid !== undefined) {
        try {
          setPriority(child.pid, niceness);
        } catch {} // it may have ended already
      }
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      const done = (ok: boolean) => {
        clearTimeout(timer);
        this.children.delete(child);
        resolve(ok);
      };
      // No ffmpeg to start: 'error' and no 'exit'.
      child.once('error', () => done(false));
      child.once('exit', (code) => done(code === 0));
    });
  }

  private async make({ source, target, kind }: Wanted, niceness: number): Promise<boolean> {
    if (await exists(target)) return true;
    await mkdir(dirname(target), { recursive: true });
    const temp = `${target}.${randomBytes(6).toString('hex')}.jpg`;
    const scale = `scale='min(${THUMBNAIL_WIDTH},iw)':-2`;
    const frame = (seek: string) => [
      '-v',
      'error',
      '-y',
      // One frame: ffmpeg's decoder and filter threads would cost more to start than they save.
      '-threads',
      '1',
      ...(kind === 'video' ? ['-ss', seek] : []),
      '-i',
      source,
      '-frames:v',
      '1',
      '-vf',
      scale,
      '-q:v',
      '4',
      '-threads',
      '1',
      temp,
    ];
    // A clip shorter than a second has no frame at 1 s: take its first one.
    const ok =
      (await this.run(frame('1'), niceness)) && (await exists(temp))
        ? true
        : kind === 'video' && (await this.run(frame('0'), niceness)) && (await exists(temp));
    if (!ok) {
      await rm(temp, { force: true });
      return false;
    }
    await rename(temp, target);
    // The object may have been deleted meanwhile (a canceled job's cleanup): leave no thumbnail behind.
    if (!(await exists(source))) {
      await rm(target, { force: true });
      return false;
    }
    return true;
  }
}
