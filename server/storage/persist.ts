import { createHash, hash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { AppError, isAppError } from '../../shared/errors.ts';
import { extended } from '../../shared/objects.ts';
import { countUpload, countUploadFailure } from '../observability/metrics.ts';
import type { ProviderResult } from '../providers/provider.ts';
import { bytesReader, type Mp4Info, readMp4Info } from './mp4-info.ts';
import { safeGet } from './safe-fetch.ts';
import { imageDimensions, SNIFF_BYTES, type SniffedType, sniffType } from './sniff.ts';
import type { Storage } from './storage.ts';

export interface PersistDeps {
  storage: Storage;
  /** Where downloads are staged; one sub-folder per call, always removed. */
  tmpDir: string;
  /** ALLOW_PRIVATE_NETWORK_FETCH: tests only. */
  allowPrivateNetwork: boolean;
  /** Default 50 MB. */
  maxImageBytes?: number;
  /** Default 2 GB. */
  maxVideoBytes?: number;
  /** Whole download, headers to last byte. Default 10 minutes. */
  downloadTimeoutMs?: number;
  /** Provider result hosts; when set, any other host (on any redirect hop) is refused. */
  allowedHosts?: string[];
}

export type PersistStage = 'downloading' | 'uploading';

export interface PersistInput {
  source: ProviderResult;
  kind: 'image' | 'video';
  /** Builds the object key once the real extension is known (see keys.ts keyForOutput). */
  keyFor: (ext: string) => string;
  onProgress?: (stage: PersistStage, done: number, total: number | null) => void;
  signal?: AbortSignal;
}

export interface PersistedOutput {
  key: string;
  /** Canonical unsigned URL: what the database stores. */
  url: string;
  size: number;
  contentType: string;
  sha256: string;
  width?: number;
  height?: number;
  durationSeconds?: number;
  /** Host the bytes came from, for logs; absent for inline bytes. */
  sourceHost?: string;
}

const MB = 1024 * 1024;
export const DEFAULT_MAX_IMAGE_BYTES = 50 * MB;
export const DEFAULT_MAX_VIDEO_BYTES = 2 * 1024 * MB;
const DEFAULT_DOWNLOAD_TIMEOUT_MS = 10 * 60 * 1000;
const PROGRESS_STEP = 4 * MB;
const WRITE_BATCH_BYTES = MB;

interface Captured {
  size: number;
  sha256: string;
  head: Buffer;
}

const tooLarge = (cap: number) =>
  new AppError('OUTPUT_INVALID', `The result is larger than the ${Math.round(cap / MB)} MB limit`);

/** Stream to `file`, hashing, counting, keeping the first bytes for sniffing, and stopping at the cap. */
const capture = async (
  source: Readable,
  file: string,
  cap: number,
  total: number | null,
  onBytes: (done: number, total: number | null) => void,
  signal: AbortSignal | undefined,
): Promise<Captured> => {
  const hasher = createHash('sha256');
  const headChunks: Buffer[] = [];
  let headLength = 0;
  let size = 0;
  let reported = 0;
  await pipeline(
    source,
    async function* (chunks: AsyncIterable<Buffer>) {
      // Socket reads arrive in ≤64 KB chunks; writing them in ~1 MB batches costs far fewer syscalls.
      let batch: Buffer[] = [];
      let batchBytes = 0;
      for await (const chunk of chunks) {
        size += chunk.length;
        if (size > cap) throw tooLarge(cap);
        hasher.update(chunk);
        if (headLength < SNIFF_BYTES) {
          const part = chunk.subarray(0, SNIFF_BYTES - headLength);
          headChunks.push(Buffer.from(part));
          headLength += part.length;
        }
        if (size - reported >= PROGRESS_STEP) {
          reported = size;
          onBytes(size, total);
        }
        batch.push(chunk);
        batchBytes += chunk.length;
        if (batchBytes >= WRITE_BATCH_BYTES) {
          yield batch.length === 1 ? batch[0]! : Buffer.concat(batch, batchBytes);
          batch = [];
          batchBytes = 0;
        }
      }
      if (batchBytes > 0) yield Buffer.concat(batch, batchBytes);
    },
    createWriteStream(file),
    ...(signal ? [{ signal }] : []),
  );
  onBytes(size, total);
  return { size, sha256: hasher.digest('hex'), head: Buffer.concat(headChunks) };
};

const download = async (
  deps: PersistDeps,
  url: string,
  file: string,
  cap: number,
  input: PersistInput,
): Promise<Captured & { sourceHost: string }> => {
  const timeoutMs = deps.downloadTimeoutMs ?? DEFAULT_DOWNLOAD_TIMEOUT_MS;
  const timeout = AbortSignal.timeout(timeoutMs);
  const signal = input.signal ? AbortSignal.any([input.signal, timeout]) : timeout;
  try {
    const response = await safeGet(url, {
      allowPrivateNetwork: deps.allowPrivateNetwork,
      allowedHosts: deps.allowedHosts,
      signal,
    });
    if (response.status < 200 || response.status >= 300) {
      response.body.resume();
      throw new AppError('PROVIDER_FAILED', `Downloading the result failed with HTTP ${response.status}`);
    }
    const declared = Number(response.headers['content-length']);
    const total =
      Number.isFinite(declared) && declared >= 0 && !response.headers['content-encoding'] ? declared : null;
    if (total !== null && total > cap) {
      response.body.destroy();
      throw tooLarge(cap);
    }
    const captured = await capture(
      response.body,
      file,
      cap,
      total,
      (done, t) => input.onProgress?.('downloading', done, t),
      signal,
    );
    return extended(captured, { sourceHost: response.url.host });
  } catch (error) {
    if (isAppError(error)) throw error;
    if (input.signal?.aborted) throw error; // canceled by the caller: not a provider failure
    if (timeout.aborted) {
      throw new AppError('PROVIDER_FAILED', `Downloading the result timed out after ${timeoutMs} ms`, {
        cause: error,
      });
    }
    throw new AppError('PROVIDER_FAILED', 'Downloading the result failed', { cause: error });
  }
};

const mp4InfoOf = async (file: string, size: number): Promise<Mp4Info> => {
  const handle = await open(file, 'r').catch(() => null);
  if (!handle) return {};
  try {
    return await readMp4Info(handle, size);
  } finally {
    await handle.close();
  }
};

/**
 * Results a provider hands over as bytes (the demo, base64 JSON) up to this size are stored from memory:
 * no temp file to write, read back and remove. Larger ones take the file path like downloads.
 */
export const INLINE_MAX_BYTES = 16 * MB;

/** Where the captured bytes are: the temp file, or memory (with their MD5 when it is known). */
type Staged = { filePath: string } | { bytes: Buffer; md5?: string };

/**
 * The one path every generated file takes: download (or take bytes) → temp file or memory, sniff the
 * real type, hash, upload. Errors: OUTPUT_INVALID (wrong type, too large, refused target, including a
 * private-network target), PROVIDER_FAILED (download failed or timed out), STORAGE_UPLOAD_FAILED.
 */
export const persist = async (deps: PersistDeps, input: PersistInput): Promise<PersistedOutput> => {
  const cap =
    input.kind === 'image'
      ? (deps.maxImageBytes ?? DEFAULT_MAX_IMAGE_BYTES)
      : (deps.maxVideoBytes ?? DEFAULT_MAX_VIDEO_BYTES);
  const source = input.source;
  if ('bytes' in source && source.bytes.byteLength <= INLINE_MAX_BYTES) {
    const bytes = Buffer.from(source.bytes.buffer, source.bytes.byteOffset, source.bytes.byteLength);
    if (bytes.byteLength > cap) throw tooLarge(cap);
    // Digests the provider computed with the bytes (off the event loop) are taken as they are.
    const digests = source.digests;
    const captured: Captured = {
      size: bytes.byteLength,
      sha256: digests?.sha256 ?? hash('sha256', bytes, 'hex'),
      head: bytes.subarray(0, SNIFF_BYTES),
    };
    return store(deps, input, captured, { bytes, md5: digests?.md5 });
  }
  const dir = await mkdtemp(join(deps.tmpDir, 'persist-'));
  const file = join(dir, 'output');
  try {
    const captured: Captured & { sourceHost?: string } =
      'url' in source
        ? await download(deps, source.url, file, cap, input)
        : await capture(
            Readable.from([Buffer.from(source.bytes)]),
            file,
            cap,
            source.bytes.byteLength,
            () => {},
            undefined,
          );
    return await store(deps, input, captured, { filePath: file });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
};

/** Sniff, read the media's size and length, upload. */
const store = async (
  deps: PersistDeps,
  input: PersistInput,
  captured: Captured & { sourceHost?: string },
  staged: Staged,
): Promise<PersistedOutput> => {
  const type: SniffedType | null = sniffType(captured.head);
  if (!type) {
    throw new AppError('OUTPUT_INVALID', 'The result is not a PNG, JPEG, WebP, MP4 or WebM file');
  }
  if (type.kind !== input.kind) {
    throw new AppError('OUTPUT_INVALID', `Expected an ${input.kind} but the result is ${type.contentType}`);
  }
  // Width, height and duration are for showing the media whole; when they cannot be read the output is
  // stored without them, never refused.
  let dimensions = type.kind === 'image' ? imageDimensions(type, captured.head) : undefined;
  let durationSeconds: number | undefined;
  if (type.ext === 'mp4') {
    const video =
      'bytes' in staged
        ? await readMp4Info(bytesReader(staged.bytes), captured.size)
        : await mp4InfoOf(staged.filePath, captured.size);
    if (video.width !== undefined && video.height !== undefined) {
      dimensions = { width: video.width, height: video.height };
    }
    durationSeconds = video.durationSeconds;
  }

  const key = input.keyFor(type.ext);
  input.onProgress?.('uploading', 0, captured.size);
  let stored: Awaited<ReturnType<Storage['put']>>;
  try {
    stored = await deps.storage.put({
      key,
      ...staged,
      contentType: type.contentType,
      size: captured.size,
      onProgress: (done, total) => input.onProgress?.('uploading', done, total),
      signal: input.signal,
    });
    countUpload(deps.storage.kind, captured.size);
  } catch (error) {
    countUploadFailure(deps.storage.kind);
    if (isAppError(error)) throw error;
    throw new AppError('STORAGE_UPLOAD_FAILED', 'Storing the result failed', { cause: error });
  }

  return {
    key: stored.key,
    url: stored.url,
    size: captured.size,
    contentType: type.contentType,
    sha256: captured.sha256,
    ...(dimensions ? { width: dimensions.width, height: dimensions.height } : {}),
    ...(durationSeconds !== undefined ? { durationSeconds } : {}),
    ...(captured.sourceHost ? { sourceHost: captured.sourceHost } : {}),
  };
};
