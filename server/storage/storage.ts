import type { Readable } from 'node:stream';

/**
 * What the pipeline stores: one object, in a temp file on local disk (downloads) or in memory (results a
 * provider handed over as bytes, up to `INLINE_MAX_BYTES` in persist.ts).
 */
export type PutInput = {
  key: string;
  contentType: string;
  size: number;
  /** Bytes uploaded so far, for the job's upload progress. */
  onProgress?: (uploadedBytes: number, totalBytes: number) => void;
  signal?: AbortSignal;
} & (
  | { filePath: string; bytes?: never; md5?: never }
  | {
      bytes: Buffer;
      filePath?: never;
      /** The bytes' MD5 in base64, when the caller has it: sent as Content-MD5 without hashing again. */
      md5?: string;
    }
);

export interface StoredObject {
  key: string;
  /** Canonical, unsigned URL of the object: what the database keeps in job_outputs.oss_url. */
  url: string;
  size: number;
  contentType: string;
}

export interface UrlOptions {
  /** Ask the browser to download: true, or the file name to suggest. */
  download?: boolean | string;
  /** A small preview instead of the object: resized image, or a poster frame of a video. */
  thumbnail?: 'image' | 'video';
}

export interface ByteRange {
  start: number;
  end: number; // inclusive
}

/** One object as a listing shows it. */
/** A multipart upload not completed nor aborted. */
export interface OpenUpload {
  key: string;
  uploadId: string;
  /** When it was initiated (ms since the epoch). */
  initiated: number;
}

export interface ListedObject {
  key: string;
  size: number;
  /** Milliseconds since the epoch. */
  lastModified: number;
}

/** Where outputs live: Alibaba OSS in production, a local folder in the embedded default. */
export interface Storage {
  readonly kind: 'oss' | 'local';
  /** Upload a file. Throws AppError STORAGE_UPLOAD_FAILED after retries; leaves nothing behind on failure. */
  put(input: PutInput): Promise<StoredObject>;
  head(key: string): Promise<{ size: number; contentType: string } | null>;
  /** Idempotent: deleting a missing object is not an error. */
  delete(key: string): Promise<void>;
  /** The canonical unsigned URL (stored in the database). */
  canonicalUrl(key: string): string;
  /**
   * A URL a browser can read now: public base + key, or a signed URL that expires. Never stored. OSS with a
   * RAM role throws rather than sign with expired credentials.
   */
  urlFor(key: string, options?: UrlOptions): string;
  /** Every object whose key starts with `prefix`, page by page (the housekeeping sweep's view). */
  list?(prefix: string): AsyncIterable<ListedObject>;
  /** OSS: the multipart uploads under `prefix` still open (a worker killed mid-upload leaves one). */
  openUploads?(prefix: string): AsyncIterable<OpenUpload>;
  /** OSS: aborts an open multipart upload, freeing its parts. */
  abortUpload?(key: string, uploadId: string): Promise<void>;
  /** Local mode only: stream an object (optionally a byte range). */
  createReadStream?(key: string, range?: ByteRange): Readable;
  /** Ends background work (local thumbnails) at shutdown. */
  close?(): Promise<void>;
}
