import { hash } from 'node:crypto';
import OSS from 'ali-oss';
import { AppError } from '../../shared/errors.ts';
import { type OssCredentialSource, type OssCredentials, StaticCredentials } from './oss-credentials.ts';
import { presignV4 } from './oss-sign.ts';
import type { ListedObject, OpenUpload, PutInput, Storage, StoredObject, UrlOptions } from './storage.ts';
import { contentDisposition, encodeKeyPath, SignedUrlCache, urlStepSeconds } from './url.ts';

/**
 * The bucket's public origin, which stored URLs and signed URLs use: the endpoint itself when it is a
 * domain bound to the bucket (CNAME), else `{bucket}.{endpoint host}`, else the region's public host.
 */
export function bucketOrigin(o: {
  bucket: string;
  region: string;
  endpoint?: string;
  cname?: boolean;
}): string {
  if (!o.endpoint) return `https://${o.bucket}.${o.region}.aliyuncs.com`;
  const url = new URL(o.endpoint.includes('://') ? o.endpoint : `https://${o.endpoint}`);
  return `${url.protocol}//${o.cname ? url.host : `${o.bucket}.${url.host}`}`;
}

export interface OssStorageOptions {
  bucket: string;
  /** As ali-oss takes it, e.g. `oss-cn-hangzhou`; V4 signs for `cn-hangzhou`. */
  region: string;
  /**
   * The public endpoint, for URLs handed out and stored; wins over region. A custom domain (or the local
   * test server) needs `cname: true`. Unset: `https://{bucket}.{region}.aliyuncs.com`.
   */
  endpoint?: string;
  cname: boolean;
  /**
   * Where the server's own requests (put, multipart, head, delete) go, e.g.
   * `https://oss-cn-hangzhou-internal.aliyuncs.com` on ECS. Never appears in a URL. Unset: the public endpoint.
   */
  internalEndpoint?: string;
  /** 4 (default): OSS4-HMAC-SHA256 for every request and URL. 1: only for old buckets that still take it. */
  signatureVersion?: 1 | 4;
  /** Where credentials come from (the ECS RAM role); else the key pair below. */
  credentials?: OssCredentialSource;
  accessKeyId?: string;
  accessKeySecret?: string;
  /** Static STS token that goes with the key pair. */
  securityToken?: string;
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
  /** Clock for signed read URLs, for tests. */
  now?: () => number;
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

/**
 * `work`, or a rejection as soon as `signal` aborts. ali-oss's `cancel()` stops multipart uploads only,
 * and only between parts: a single PUT or a part that hangs would hold a stopping worker until its
 * timeout. The request is left to end on its own; the job is handed back and the next worker stores
 * the same key again.
 */
function unlessAborted<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return work;
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(Object.assign(new Error('upload abandoned'), { name: 'AbortError' }));
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

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
  private readonly v4: boolean;
  readonly credentials: OssCredentialSource;
  /** The client read URLs are signed with (offline), kept while the credentials stay the same. */
  private signer: { credentials: OssCredentials; client: OSS } | undefined;
  /** V4 read URLs signed in the current step, with the current credentials (`urlFor`). */
  private readonly signedUrls = new SignedUrlCache();
  private signedStep: { start: number; credentials: OssCredentials } | undefined;

  constructor(options: OssStorageOptions) {
    this.options = options;
    this.partSize = Math.max(100 * 1024, Math.floor(options.partSizeBytes ?? 8 * MB));
    this.v4 = (options.signatureVersion ?? 4) === 4;
    if (options.credentials) {
      this.credentials = options.credentials;
    } else if (options.accessKeyId && options.accessKeySecret) {
      this.credentials = new StaticCredentials({
        accessKeyId: options.accessKeyId,
        accessKeySecret: options.accessKeySecret,
        securityToken: options.securityToken,
      });
    } else {
      throw new Error('OssStorage needs credentials or an access key pair');
    }
  }

  /** The public endpoint as ali-oss options: what URLs (signed or not) are made for. */
  private publicTarget(): Partial<OSS.Options> {
    const { endpoint } = this.options;
    return endpoint
      ? { endpoint, cname: this.options.cname, secure: endpoint.startsWith('https:') }
      : { cname: false, secure: true };
  }

  /**
   * A client for the server's own requests, at the internal endpoint when there is one. `internal: true`
   * only matters for an IP endpoint (the test server), where ali-oss then sends the region's `-internal`
   * host name as Host. A fresh client per upload: ali-oss keeps its cancel flag and part streams per client.
   */
  private serverClient(credentials: OssCredentials, timeoutMs = this.options.timeoutMs ?? 60_000): OSS {
    const internal = this.options.internalEndpoint;
    const target = internal
      ? { endpoint: internal, cname: false, internal: true, secure: internal.startsWith('https:') }
      : this.publicTarget();
    return this.client(credentials, target, timeoutMs);
  }

  private signerFor(credentials: OssCredentials): OSS {
    if (this.signer?.credentials !== credentials) {
      this.signer = { credentials, client: this.client(credentials, this.publicTarget(), 60_000) };
    }
    return this.signer.client;
  }

  private client(credentials: OssCredentials, target: Partial<OSS.Options>, timeoutMs: number): OSS {
    const source = this.credentials;
    // retryMax is real in ali-oss 6.23 but missing from @types/ali-oss; retries are ours (from the file).
    const clientOptions: OSS.Options & { retryMax: number } = {
      bucket: this.options.bucket,
      region: this.options.region,
      accessKeyId: credentials.accessKeyId,
      accessKeySecret: credentials.accessKeySecret,
      authorizationV4: this.v4,
      timeout: timeoutMs,
      ...target,
      retryMax: 0,
    };
    if (credentials.securityToken) {
      clientOptions.stsToken = credentials.securityToken;
      // Checked before every request (the source answers from its cache until close to expiry), so a
      // long multipart upload switches to fresh credentials half-way instead of failing.
      clientOptions.refreshSTSTokenInterval = 0;
      clientOptions.refreshSTSToken = async () => {
        const fresh = await source.get();
        return {
          accessKeyId: fresh.accessKeyId,
          accessKeySecret: fresh.accessKeySecret,
          stsToken: fresh.securityToken ?? '',
        };
      };
    }
    return new OSS(clientOptions);
  }

  async put(input: PutInput): Promise<StoredObject> {
    const attempts = Math.max(1, this.options.retries ?? 3);
    // Bytes in memory are at most persist's inline limit: one PUT (OSS takes up to 5 GB in one).
    const filePath = input.filePath;
    const multipart =
      filePath !== undefined && input.size >= (this.options.multipartThresholdBytes ?? 16 * MB);
    const baseDelay = this.options.retryBaseDelayMs ?? 500;
    let checkpoint: Checkpoint | undefined;
    let lastError: unknown;

    for (let attempt = 1; attempt <= attempts; attempt += 1) {
      if (input.signal?.aborted) break;
      let client: OSS | undefined;
      const onAbort = () => client?.cancel();
      input.signal?.addEventListener('abort', onAbort, { once: true });
      try {
        // A refresh failure (RAM role) fails this attempt like a network error would.
        client = this.serverClient(await this.credentials.get());
        if (multipart) {
          // Canceled (the client's flag), ali-oss still waits for the parts on the wire, up to their
          // timeout: a stopping worker does not wait with it, and the upload is aborted below.
          await unlessAborted(
            client.multipartUpload(input.key, filePath, {
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
            }),
            input.signal,
          );
        } else {
          await unlessAborted(
            client.put(input.key, input.bytes ?? filePath, {
              mime: input.contentType,
              headers: {
                'Content-Type': input.contentType,
                // OSS checks bytes sent from memory against their MD5. Given here in one call, it spares
                // ali-oss a copy of the bytes to hash them itself.
                ...(input.bytes ? { 'Content-MD5': input.md5 ?? hash('md5', input.bytes, 'base64') } : {}),
              },
              timeout: this.options.timeoutMs ?? 60_000,
            }),
            input.signal,
          );
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

  /**
   * Abort this attempt's multipart upload, best effort. The object itself is never deleted here: its
   * key is the job output's, and another worker that reclaimed the job may have stored it under the
   * same key meanwhile. A put whose answer was lost is removed by the job's owner once it has failed
   * the job (runner), or by the sweep.
   */
  private async cleanUp(key: string, uploadId: string | undefined): Promise<void> {
    let client: OSS;
    try {
      client = this.serverClient(
        await this.credentials.get(),
        Math.min(this.options.timeoutMs ?? 10_000, 10_000),
      );
    } catch {
      return;
    }
    if (uploadId) {
      await client.abortMultipartUpload(key, uploadId).catch(() => undefined);
    }
  }

  async head(key: string): Promise<{ size: number; contentType: string } | null> {
    try {
      const result = await this.serverClient(await this.credentials.get()).head(key);
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
      await this.serverClient(await this.credentials.get()).delete(key);
    } catch (error) {
      if ((error as { code?: string }).code === 'NoSuchKey') return;
      throw error;
    }
  }

  /** ListObjectsV2 under a prefix, 1000 keys a page. */
  async *list(prefix: string): AsyncIterable<ListedObject> {
    let token: string | undefined;
    do {
      const page = await this.serverClient(await this.credentials.get()).listV2(
        { prefix, 'max-keys': '1000', ...(token ? { 'continuation-token': token } : {}) },
        {},
      );
      for (const o of page.objects ?? [])
        yield { key: o.name, size: Number(o.size), lastModified: Date.parse(o.lastModified) };
      token = page.isTruncated ? (page.nextContinuationToken ?? undefined) : undefined;
    } while (token);
  }

  /** ListMultipartUploads under a prefix, 1000 a page. */
  async *openUploads(prefix: string): AsyncIterable<OpenUpload> {
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    do {
      const page = await this.serverClient(await this.credentials.get()).listUploads(
        {
          prefix,
          'max-uploads': 1000,
          ...(keyMarker ? { 'key-marker': keyMarker, 'upload-id-marker': uploadIdMarker } : {}),
        },
        {},
      );
      for (const u of page.uploads)
        yield { key: u.name, uploadId: u.uploadId, initiated: Date.parse(u.initiated) };
      keyMarker = page.isTruncated ? page.nextKeyMarker : undefined;
      uploadIdMarker = page.nextUploadIdMarker;
    } while (keyMarker);
  }

  async abortUpload(key: string, uploadId: string): Promise<void> {
    await this.serverClient(await this.credentials.get()).abortMultipartUpload(key, uploadId);
  }

  canonicalUrl(key: string): string {
    const path = encodeKeyPath(key);
    if (this.options.publicBaseUrl) return `${this.options.publicBaseUrl.replace(/\/+$/, '')}/${path}`;
    return `${bucketOrigin(this.options)}/${path}`;
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
    // Signed for the public host (never the internal one), with credentials valid now.
    const credentials = this.credentials.current();
    const signer = this.signerFor(credentials);
    if (this.v4) {
      // Signed as at the start of the step, for the lifetime: the same URL all step long (the cache's,
      // and the browser's cached copy), with between the lifetime less a step and the lifetime left.
      // OSS takes a signing time in the past.
      const ttl = this.options.urlTtlSeconds;
      const step = urlStepSeconds(ttl);
      const start = Math.floor((this.options.now?.() ?? Date.now()) / 1000 / step) * step;
      if (this.signedStep?.start !== start || this.signedStep.credentials !== credentials) {
        this.signedStep = { start, credentials };
      }
      return this.signedUrls.get(
        this.signedStep,
        `${process ?? ''}|${disposition?.length ?? -1}|${disposition ?? ''}|${key}`,
        () =>
          presignV4({
            client: signer,
            bucket: this.options.bucket,
            region: this.options.region,
            credentials,
            method: 'GET',
            key,
            expiresSeconds: ttl,
            queries: {
              ...(process ? { 'x-oss-process': process } : {}),
              ...(disposition ? { 'response-content-disposition': disposition } : {}),
            },
            now: new Date(start * 1000),
          }),
      );
    }
    return signer.signatureUrl(key, {
      expires: this.options.urlTtlSeconds,
      ...(process ? { process } : {}),
      ...(disposition ? { response: { 'content-disposition': disposition } } : {}),
    });
  }
}
