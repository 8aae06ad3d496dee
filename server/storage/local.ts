import { createHmac, createSecretKey, type KeyObject, randomBytes, timingSafeEqual } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { copyFile, mkdir, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, extname, resolve, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { RequestHandler, Response } from 'express';
import { AppError } from '../../shared/errors.ts';
import type { ByteRange, ListedObject, PutInput, Storage, StoredObject, UrlOptions } from './storage.ts';
import type { Thumbnailer } from './thumbnails.ts';
import { contentDisposition, encodeKeyPath, SignedUrlCache, urlStepSeconds } from './url.ts';

export interface LocalStorageOptions {
  /** Folder holding the objects, DATA_DIR/objects. */
  root: string;
  /** Where the app mounts localFilesHandler, `/files`. */
  publicPath: string;
  /** HMAC key for read URLs. */
  secret: string;
  urlTtlSeconds: number;
  /** Absolute origin to prefix URLs with; relative URLs when absent. */
  baseUrl?: string;
  /** Clock, for tests. */
  now?: () => number;
  /**
   * Makes thumbnails (resized images, video posters) under `thumbnailsRoot` soon after an object is
   * stored, and on demand for objects stored before; without it a thumbnail URL serves the object itself.
   */
  thumbnailer?: Thumbnailer;
  /** Where thumbnails are cached; default: a `thumbnails` folder beside `root`. */
  thumbnailsRoot?: string;
}

const CONTENT_TYPES: Record<string, string> = {
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.webp': 'image/webp',
  '.mp4': 'video/mp4',
  '.webm': 'video/webm',
};

/** A query value as URLSearchParams writes it; text it leaves as it is (a download name) is returned at once. */
const formEncode = (value: string): string =>
  /^[\w.*-]*$/.test(value) ? value : new URLSearchParams({ v: value }).toString().slice(2);

/** Keys come from keys.ts, but the handler sees whatever a browser sends: refuse anything path-like. */
const isSafeKey = (key: string): boolean =>
  key.length > 0 &&
  key.length <= 1024 &&
  !key.includes('\\') &&
  !key.includes('\0') &&
  key.split('/').every((segment) => segment !== '' && segment !== '.' && segment !== '..');

/** Objects on local disk, read through HMAC-signed expiring URLs so local mode is as private as a bucket. */
export class LocalStorage implements Storage {
  readonly kind = 'local' as const;
  readonly options: LocalStorageOptions;
  private readonly root: string;

  private readonly thumbsRoot: string;
  /** The HMAC key, made once: a page of the gallery signs three URLs per output. */
  private readonly signingKey: KeyObject;
  /** What every URL starts with, before the encoded key. */
  private readonly urlBase: string;
  /** URLs signed for the current expiry (`urlFor`), by their signed fields. */
  private readonly signedUrls = new SignedUrlCache();

  constructor(options: LocalStorageOptions) {
    this.options = options;
    this.root = resolve(options.root);
    this.thumbsRoot = resolve(options.thumbnailsRoot ?? resolve(this.root, '..', 'thumbnails'));
    this.signingKey = createSecretKey(Buffer.from(options.secret));
    this.urlBase = `${options.baseUrl?.replace(/\/+$/, '') ?? ''}${options.publicPath}/`;
  }

  /** Where the cached JPEG thumbnail of a key lives. */
  thumbnailPathOf(key: string): string {
    this.pathOf(key);
    return `${resolve(this.thumbsRoot, key)}.jpg`;
  }

  /** Ensures a thumbnail exists and returns its path, or null when none can be made (no ffmpeg, bad file). */
  async thumbnail(key: string): Promise<string | null> {
    const thumbnailer = this.options.thumbnailer;
    if (!thumbnailer) return null;
    const target = this.thumbnailPathOf(key);
    return (await thumbnailer.ensure(this.pathOf(key), target, this.mediaKindOf(key))) ? target : null;
  }

  private thumbnailSoon(key: string): void {
    this.options.thumbnailer?.soon(this.pathOf(key), this.thumbnailPathOf(key), this.mediaKindOf(key));
  }

  private mediaKindOf(key: string): 'image' | 'video' {
    return this.contentTypeOf(key).startsWith('video/') ? 'video' : 'image';
  }

  /** Stops making thumbnails ahead of requests (at shutdown); those missing are made when asked for. */
  async close(): Promise<void> {
    await this.options.thumbnailer?.stop();
  }

  /** Absolute file path of a key; throws for keys that would leave the root. */
  pathOf(key: string): string {
    const path = resolve(this.root, key);
    if (!isSafeKey(key) || !path.startsWith(this.root + sep)) throw new Error('Invalid object key');
    return path;
  }

  contentTypeOf(key: string): string {
    return CONTENT_TYPES[extname(key).toLowerCase()] ?? 'application/octet-stream';
  }

  async put(input: PutInput): Promise<StoredObject> {
    const target = this.pathOf(input.key);
    const temp = `${target}.${randomBytes(6).toString('hex')}.partial`;
    try {
      await mkdir(dirname(target), { recursive: true });
      if (input.bytes) await writeFile(temp, input.bytes);
      else await copyFile(input.filePath, temp);
      if (input.signal?.aborted) throw new Error('Upload canceled');
      await rename(temp, target);
    } catch (error) {
      await rm(temp, { force: true });
      throw new AppError('STORAGE_UPLOAD_FAILED', 'Could not write the object to local storage', {
        cause: error,
      });
    }
    input.onProgress?.(input.size, input.size);
    // Made soon, in the background, so the first gallery visit is as fast as the second without the
    // upload waiting for ffmpeg; one that fails or is not made yet is made when it is asked for.
    this.thumbnailSoon(input.key);
    return {
      key: input.key,
      url: this.canonicalUrl(input.key),
      size: input.size,
      contentType: input.contentType,
    };
  }

  async head(key: string): Promise<{ size: number; contentType: string } | null> {
    try {
      const info = await stat(this.pathOf(key));
      return info.isFile() ? { size: info.size, contentType: this.contentTypeOf(key) } : null;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
  }

  async delete(key: string): Promise<void> {
    await rm(this.pathOf(key), { force: true });
    await rm(this.thumbnailPathOf(key), { force: true });
  }

  /** Files under the root whose key starts with `prefix` (upload leftovers `*.partial` included). */
  async *list(prefix: string): AsyncIterable<ListedObject> {
    let entries: string[];
    try {
      entries = await readdir(this.root, { recursive: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw error;
    }
    for (const entry of entries) {
      const key = entry.split(sep).join('/');
      if (!key.startsWith(prefix)) continue;
      const info = await stat(resolve(this.root, entry)).catch(() => null);
      if (info?.isFile()) yield { key, size: info.size, lastModified: info.mtimeMs };
    }
  }

  canonicalUrl(key: string): string {
    return this.urlBase + encodeKeyPath(key);
  }

  /**
   * Signed, expiring URL; `thumbnail` asks for a small JPEG (made with ffmpeg when a thumbnailer is set).
   * The expiry is rounded up to a step of a twelfth of `urlTtlSeconds` (at most 5 minutes): a URL lives
   * at least that long, and the same object gets the same URL for the whole step, so browsers keep it
   * in their cache and a gallery page signed by an earlier listing costs no HMAC.
   */
  urlFor(key: string, options: UrlOptions = {}): string {
    const now = this.options.now?.() ?? Date.now();
    const ttl = this.options.urlTtlSeconds;
    const step = urlStepSeconds(ttl);
    const exp = String(Math.ceil((Math.floor(now / 1000) + ttl) / step) * step);
    const dl = options.download === undefined || options.download === false ? '' : String(options.download);
    const th = options.thumbnail ? '1' : '';
    // th is '' or '1' and dl's length is spelled out, so no two requests share an entry.
    return this.signedUrls.get(exp, `${th}|${dl.length}|${dl}|${key}`, () => {
      // The query URLSearchParams would write, without making one per URL: exp is digits, sig base64url.
      let query = `exp=${exp}`;
      if (dl !== '') query += `&dl=${formEncode(dl)}`;
      if (th !== '') query += `&th=${th}`;
      return `${this.canonicalUrl(key)}?${query}&sig=${this.signature(key, exp, dl, th)}`;
    });
  }

  /** Checks a signature and its expiry. */
  verify(key: string, exp: string, dl: string, sig: string, th = ''): boolean {
    const now = this.options.now?.() ?? Date.now();
    if (!/^\d{1,12}$/.test(exp) || Number(exp) * 1000 < now) return false;
    const expected = Buffer.from(this.signature(key, exp, dl, th));
    const given = Buffer.from(sig);
    return expected.length === given.length && timingSafeEqual(expected, given);
  }

  createReadStream(key: string, range?: ByteRange): Readable {
    return createReadStream(this.pathOf(key), range ? { start: range.start, end: range.end } : undefined);
  }

  /**
   * The HMAC of the fields as a JSON array: every field is quoted and escaped, so no value can pass for
   * another field (joining with newlines let `dl=%0Athumbnail` reuse a thumbnail's signature).
   */
  private signature(key: string, exp: string, dl: string, th = ''): string {
    const payload = JSON.stringify(['files/v2', key, exp, dl, th === '' ? '' : 'thumbnail']);
    return createHmac('sha256', this.signingKey).update(payload).digest('base64url');
  }
}

const parseRange = (header: string, size: number): ByteRange | 'invalid' | undefined => {
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!match || (match[1] === '' && match[2] === '')) return undefined; // unsupported forms: whole object
  if (match[1] === '') {
    const suffix = Number(match[2]);
    if (suffix === 0) return 'invalid';
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(match[1]);
  const end = match[2] === '' ? size - 1 : Math.min(Number(match[2]), size - 1);
  if (start >= size || start > end) return 'invalid';
  return { start, end };
};

/** A missing file answers as any other missing path does: a JSON 404. */
const notFound = (res: Response) => res.status(404).json({ error: 'No such file' });

/** Express handler for `/files/*`: signed URLs only, Range support for video seeking. */
export const localFilesHandler =
  (storage: LocalStorage): RequestHandler =>
  async (req, res, next) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      next();
      return;
    }
    let key: string;
    try {
      key = decodeURIComponent(req.path.replace(/^\/+/, ''));
      storage.pathOf(key);
    } catch {
      notFound(res);
      return;
    }
    const param = (name: string) => (typeof req.query[name] === 'string' ? (req.query[name] as string) : '');
    if (!storage.verify(key, param('exp'), param('dl'), param('sig'), param('th'))) {
      res.status(403).type('text/plain').send('Forbidden: the link is invalid or has expired');
      return;
    }
    try {
      if (param('th') !== '') {
        const thumb = await storage.thumbnail(key).catch(() => null);
        if (thumb) {
          res.setHeader('Cache-Control', 'private, max-age=3600');
          res.type('image/jpeg').sendFile(thumb);
          return;
        }
        // No thumbnail possible: a video has nothing to show as an image; an image shows itself.
        if (storage.contentTypeOf(key).startsWith('video/')) {
          notFound(res);
          return;
        }
      }
      const info = await stat(storage.pathOf(key)).catch(() => null);
      if (!info?.isFile()) {
        notFound(res);
        return;
      }
      const size = info.size;
      res.setHeader('Accept-Ranges', 'bytes');
      res.setHeader('Content-Type', storage.contentTypeOf(key));
      res.setHeader('Cache-Control', 'private, max-age=300');
      res.setHeader('Last-Modified', info.mtime.toUTCString());
      const dl = param('dl');
      if (dl !== '') res.setHeader('Content-Disposition', contentDisposition(dl === 'true' ? true : dl));
      const rangeHeader = req.headers.range;
      const range = rangeHeader && size > 0 ? parseRange(rangeHeader, size) : undefined;
      if (range === 'invalid') {
        res.status(416).setHeader('Content-Range', `bytes */${size}`).end();
        return;
      }
      if (range) {
        res.status(206);
        res.setHeader('Content-Range', `bytes ${range.start}-${range.end}/${size}`);
        res.setHeader('Content-Length', String(range.end - range.start + 1));
      } else {
        res.status(200);
        res.setHeader('Content-Length', String(size));
      }
      if (req.method === 'HEAD' || size === 0) {
        res.end();
        return;
      }
      await pipeline(storage.createReadStream(key, range), res);
    } catch (error) {
      if (!res.headersSent) next(error);
      else res.destroy();
    }
  };
