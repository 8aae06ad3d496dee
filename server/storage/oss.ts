import OSS from 'ali-oss';
import { AppError } from '../../shared/errors.ts';
import type { ListedObject, PutInput, Storage, StoredObject, UrlOptions } from './storage.ts';
import { contentDisposition, encodeKeyPath } from './url.ts';

export interface OssStorageOptions {
  bucket: string;
  /** As ali-oss takes it, e.g. `oss-cn-hangzhou`. */
  region: string;
  /** Explicit endpoint; wins over region. A custom domain or the local test server needs `cname: true`. */
  endpoint?: string;
  cname: boolean;
  accessKeyId: string;
  accessKeySecret: string;
  /** Only used by callers that build keys; kept here so one config object describes the bucket. */
  prefix?: string;
  /** Public-read bucket or CDN base: read URLs are this + key, unsigned. */
  publicBaseUrl?: string;
  urlTtlSeconds: number;
  /** Per request (per part for multipart). Default 60 s. */
  timeoutMs?: number;
  /** Multipart part size, clamped to 8–16 MB outside tests. Default 8 MB. */
  partSizeBytes?: number;
  /** Parts in flight at once. Default 4. */
  parallel?: number;
  /** Attempts per put, from the same file. Default 3. */
  retries?: number;
  /** Files at or above this size go through multipartUpload. Default 16 MB. */
  multipartThresholdBytes?: number;
  /** First backoff delay; doubles per attempt. Default 500 ms. */
  retryBaseDelayMs?: number;
}

const MB = 1024 * 1024;

export const THUMBNAIL_PROCESS = {
  image: 'image/resize,w_512',
  video: 'video/snapshot,t_1000,f_jpg,w_512',
} as const;

interface Checkpoint {
  uploadId: string;
  doneParts: { number: number; etag: string }[];
  [name: string]: unknown;
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        resolve();
      },
      { once: true },
    );
  });

/** A short, secret-free description of an ali-oss error for logs and error messages. */
const describe = (error: unknown): string => {
  if (error instanceof Error) {
    const e = error as Error & { code?: string; status?: number };
    return [e.name, e.code, e.status].filter((part) => part !== undefined && part !== '').join(' ');
  }
  return 'unknown error';
};

/** Alibaba OSS through ali-oss 6.23: put or multipartUpload from a file, retried, aborted on failure. */
export class OssStorage implements Storage {
  readonly kind = 'oss' as const;
  private readonly options: OssStorageOptions;
  private readonly partSize: number;
  /** One long-lived client for signing URLs, head and delete; uploads get their own. */
  private readonly client: OSS;

  constructor(options: OssStorageOptions) {
    this.options = options;
    this.partSize = Math.max(100 * 1024, Math.floor(options.partSizeBytes ?? 8 * MB));
    this.client = this.newClient();
  }

  /** A fresh client: ali-oss keeps its cancel flag and part streams per client, so each upload needs one. */
  private newClient(timeoutMs = this.options.timeoutMs ?? 60_000): OSS {
    const { endpoint } = this.options;
    // retryMax is real in ali-oss 6.23 but missing from @types/ali-oss; retries are ours (from the file).
    const clientOptions: OSS.Options & { retryMax: number } = {
      bucket: this.options.bucket,
      region: this.options.region,
      accessKeyId: this.options.accessKeyId,
      accessKeySecret: this.options.accessKeySecret,
      cname: this.options.cname,
      timeout: timeoutMs,
      ...(endpoint ? { endpoint, secure: endpoint.startsWith('https:') } : { secure: true }),
      retryMax: 0,
    };
    return new OSS(clientOptions);
  }

  async put(input: PutInput): Promise<StoredObject> {
    const attempts = Math.max(1, this.options.retries ?? 3);
    const multipart = input.size >= (this.options.multipartThresholdBytes ?? 16 * MB);
    const baseDelay = this.options.retryBaseDelayMs ?? 500;
    let checkpoint: Checkpoint | undefined;
    let lastError: unknown;

    for (let attempt = 1; attempt <= attempts; attempt += 1) {
      if (input.signal?.aborted) break;
      const client = this.newClient();
      const onAbort = () => client.cancel();
      input.signal?.addEventListener('abort', onAbort, { once: true });
      try {
        if (multipart) {
          await client.multipartUpload(input.key, input.filePath, {
            partSize: this.partSize,
            parallel: this.options.parallel ?? 4,
            mime: input.contentType,
            timeout: this.options.timeoutMs ?? 60_000,
            // Resume from the parts that already landed when a retry follows a partial failure.
            ...(checkpoint ? { checkpoint: checkpoint as unknown as OSS.Checkpoint } : {}),
            progress: (fraction: number, cp?: Checkpoint) => {
              if (cp?.uploadId) checkpoint = cp;
              input.onProgress?.(Math.min(input.size, Math.round(fraction * input.size)), input.size);
            },
          });
        } else {
          await client.put(input.key, input.filePath, {
            mime: input.contentType,
            headers: { 'Content-Type': input.contentType },
            timeout: this.options.timeoutMs ?? 60_000,
          });
          input.onProgress?.(input.size, input.size);
        }
        return {
          key: input.key,
          url: this.canonicalUrl(input.key),
          size: input.size,
          contentType: input.contentType,
        };
      } catch (error) {
        lastError = error;
        // NoSuchUpload on a part: the upload is gone, start a new one next time.
        if ((error as { name?: string }).name === 'abort') checkpoint = undefined;
      } finally {
        input.signal?.removeEventListener('abort', onAbort);
      }
      if (attempt < attempts) await sleep(baseDelay * 2 ** (attempt - 1), input.signal);
    }

    await this.cleanUp(input.key, checkpoint?.uploadId);
    throw new AppError(
      'STORAGE_UPLOAD_FAILED',
      input.signal?.aborted
        ? 'Upload canceled'
        : `Upload to object storage failed after ${attempts} attempts (${describe(lastError)})`,
      { cause: lastError },
    );
  }

  /** Leave nothing behind: abort the multipart upload and remove a half-confirmed object. Best effort. */
  private async cleanUp(key: string, uploadId: string | undefined): Promise<void> {
    const client = this.newClient(Math.min(this.options.timeoutMs ?? 10_000, 10_000));
    if (uploadId) {
      await client.abortMultipartUpload(key, uploadId).catch(() => undefined);
    }
    // A put whose answer was lost may still have stored the object; keys are unique per job output.
    await client.delete(key).catch(() => undefined);
  }

  async head(key: string): Promise<{ size: number; contentType: string } | null> {
    try {
      const result = await this.client.head(key);
      const headers = (result.res as { headers: Record<string, string> }).headers;
      return {
        size: Number(headers['content-length'] ?? 0),
        contentType: headers['content-type'] ?? 'application/octet-stream',
      };
    } catch (error) {
      if ((error as { code?: string }).code === 'NoSuchKey') return null;
      throw error;
    }
  }

  async delete(key: string): Promise<void> {
    try {
      await this.client.delete(key);
    } catch (error) {
      if ((error as { code?: string }).code === 'NoSuchKey') return;
      throw error;
    }
  }

  /** ListObjectsV2 under a prefix, 1000 keys a page. */
  async *list(prefix: string): AsyncIterable<ListedObject> {
    let token: string | undefined;
    do {
      const page = await this.client.listV2(
        { prefix, 'max-keys': '1000', ...(token ? { 'continuation-token': token } : {}) },
        {},
      );
      for (const o of page.objects ?? [])
        yield { key: o.name, size: Number(o.size), lastModified: Date.parse(o.lastModified) };
      token = page.isTruncated ? (page.nextContinuationToken ?? undefined) : undefined;
    } while (token);
  }

  canonicalUrl(key: string): string {
    const path = encodeKeyPath(key);
    if (this.options.publicBaseUrl) return `${this.options.publicBaseUrl.replace(/\/+$/, '')}/${path}`;
    const { endpoint, bucket, region } = this.options;
    if (!endpoint) return `https://${bucket}.${region}.aliyuncs.com/${path}`;
    const url = new URL(endpoint.includes('://') ? endpoint : `https://${endpoint}`);
    const host = this.options.cname ? url.host : `${bucket}.${url.host}`;
    return `${url.protocol}//${host}/${path}`;
  }

  urlFor(key: string, options: UrlOptions = {}): string {
    const process = options.thumbnail ? THUMBNAIL_PROCESS[options.thumbnail] : undefined;
    const disposition =
      options.download === undefined || options.download === false
        ? undefined
        : contentDisposition(options.download);
    // response-* overrides need a signed request, so a download link is signed even on a public bucket.
    if (this.options.publicBaseUrl && !disposition) {
      return process
        ? `${this.canonicalUrl(key)}?x-oss-process=${encodeURIComponent(process)}`
        : this.canonicalUrl(key);
    }
    return this.client.signatureUrl(key, {
      expires: this.options.urlTtlSeconds,
      ...(process ? { process } : {}),
      ...(disposition ? { response: { 'content-disposition': disposition } } : {}),
    });
  }
}
