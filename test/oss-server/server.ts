import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  canonicalRequestV4,
  canonicalResource,
  parseAuthorizationV4,
  parseCredentialV4,
  parseQuery,
  parseV4Timestamp,
  sign,
  signaturesEqual,
  signV4,
  stringToSign,
  stringToSignV4,
  UNSIGNED_PAYLOAD,
  V4_ALGORITHM,
} from './signature.ts';

/**
 * A small OSS-compatible server for tests and local runs: real HTTP, strict V4 signatures (header and
 * presigned; V1 refused unless `allowV1`, as on a bucket created since 2025), STS tokens, objects and
 * multipart parts streamed to a folder, and fault switches (reference/oss.md §2, §7).
 *
 * It answers under two names for the same bucket, so tests can tell which path a request took:
 * - public: `url` = `http://localhost:PORT`, a custom-domain (cname) style endpoint browsers can reach;
 * - internal: `internalUrl` = `http://127.0.0.1:PORT`. ali-oss sends requests to an IP endpoint with
 *   `Host: <bucket>.<region>[-internal].aliyuncs.com` (reference/oss.md §1.3), so a client configured with
 *   `internal: true` arrives as `<bucket>.oss-cn-hangzhou-internal.aliyuncs.com`, as on ECS.
 * Each logged request keeps the Host it arrived with.
 */

export type OssOperation =
  | 'PutObject'
  | 'GetObject'
  | 'HeadObject'
  | 'DeleteObject'
  | 'InitiateMultipartUpload'
  | 'UploadPart'
  | 'CompleteMultipartUpload'
  | 'AbortMultipartUpload'
  | 'ListParts'
  | 'ListObjectsV2'
  | 'ListMultipartUploads'
  | 'Unknown';

/** `lose`: do the request (an upload is stored), then reset the connection instead of answering. */
export type FaultMode = 'error' | 'hang' | 'reset' | 'lose';

export interface FaultRule {
  mode: FaultMode;
  /** How many matching requests to hit; Infinity (or "all" over HTTP) keeps failing. */
  count: number;
  /** For mode "error": the status to answer, 503 by default. */
  status?: number;
  /** Only requests of this operation; every operation when absent. */
  operation?: OssOperation;
}

export interface OssFaults {
  /** Answer the next `count` matching requests with a 5xx XML error. */
  failNext(count: number, options?: { status?: number; operation?: OssOperation }): void;
  /** Never answer the next `count` matching requests (the client has to time out). */
  hangNext(count: number, options?: { operation?: OssOperation }): void;
  /** Reset the TCP connection on the next `count` matching requests. */
  resetNext(count: number, options?: { operation?: OssOperation }): void;
  /** Carry out the next `count` matching requests, then reset the connection: the answer is lost. */
  loseAnswerNext(count: number, options?: { operation?: OssOperation }): void;
  /** Fail only UploadPart requests, `count` times, with a 5xx. */
  failUploadPart(count: number, status?: number): void;
  add(rule: FaultRule): void;
  clear(): void;
  readonly rules: readonly FaultRule[];
}

export type AuthScheme = 'V4' | 'V4-presigned' | 'V1' | 'V1-presigned';

export interface RequestLogEntry {
  method: string;
  operation: OssOperation;
  key: string;
  status: number | 'hang' | 'reset' | 'lost';
  /** The Host header as received. */
  host: string;
  /** The Content-MD5 header, when the client sent one (a PutObject's body is checked against it). */
  contentMd5?: string;
  /** Set once the signature verified. */
  auth?: AuthScheme;
  accessKeyId?: string;
  securityToken?: string;
}

export interface OssServerCredential {
  accessKeyId: string;
  accessKeySecret: string;
  /** STS: requests with this key must carry exactly this token. */
  securityToken?: string;
  /** STS: refused with SecurityTokenExpired from then on. */
  expiration?: Date;
}

interface AuthInfo {
  scheme: AuthScheme;
  accessKeyId: string;
  securityToken?: string;
}

type StoredCredential = OssServerCredential;

export interface MultipartUploadInfo {
  uploadId: string;
  key: string;
  parts: number[];
}

export interface OssServerOptions {
  dir: string;
  accessKeyId: string;
  accessKeySecret: string;
  bucket: string;
  /** More keys, e.g. STS ones; `addCredentials` adds them later. */
  credentials?: OssServerCredential[];
  /** The region V4 signatures must be scoped to, `oss-cn-hangzhou` (the default) or `cn-hangzhou`. */
  region?: string;
  /** Accept Signature V1 (header and presigned). Off by default: new buckets refuse V1. */
  allowV1?: boolean;
  port?: number;
  /** Listen address; 127.0.0.1 by default (reached as `localhost` and as `127.0.0.1`). */
  host?: string;
}

export interface OssServer {
  /** `http://localhost:PORT`, the public name: use as the ali-oss endpoint with `cname: true`. */
  readonly url: string;
  /** `http://127.0.0.1:PORT`, the internal name (ali-oss sends the region's `-internal` Host with `internal: true`). */
  readonly internalUrl: string;
  /** The Host header a request to `url` carries. */
  readonly publicHost: string;
  /** The Host header of a request from a client with `endpoint: internalUrl, internal: true`. */
  readonly internalHost: string;
  /** The V4 signing region, e.g. `cn-hangzhou`. */
  readonly region: string;
  /** Whether V1 is accepted; can be switched at run time. */
  allowV1: boolean;
  addCredentials(credential: OssServerCredential): void;
  removeCredentials(accessKeyId: string): void;
  readonly port: number;
  readonly bucket: string;
  readonly faults: OssFaults;
  /** Every request seen, oldest first (admin requests excluded). */
  readonly requests: RequestLogEntry[];
  objectKeys(): string[];
  /** The stored bytes of an object, for tests that compare content. */
  readObject(key: string): Readable;
  listMultipartUploads(): MultipartUploadInfo[];
  close(): Promise<void>;
}

interface ObjectMeta {
  key: string;
  size: number;
  etag: string;
  contentType: string;
  contentDisposition?: string;
  lastModified: string;
  objectType: 'Normal' | 'Multipart';
  /** Multipart objects keep their parts as files (no concatenation on Complete): part numbers in order. */
  parts?: { number: number; size: number }[];
}

interface UploadState {
  uploadId: string;
  key: string;
  contentType: string;
  contentDisposition?: string;
  parts: Map<number, { etag: string; size: number; lastModified: string }>;
  /** When it was initiated (ISO); uploads saved before this field count as initiated at load. */
  initiated?: string;
}

class OssError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly extra: Record<string, string> = {},
  ) {
    super(message);
  }
}

const XML_HEADER = '<?xml version="1.0" encoding="UTF-8"?>\n';
const NS = 'http://doc.oss-cn-hangzhou.aliyuncs.com';
const MAX_SKEW_MS = 15 * 60 * 1000;
const MAX_V4_EXPIRES_SECONDS = 7 * 24 * 3600;
const MAX_PUT_BYTES = 5 * 1024 ** 3;
const MIN_PART_BYTES = 100 * 1024;

const xmlEscape = (value: string): string =>
  value.replace(/[<>&'"]/g, (c) => `&${{ '<': 'lt', '>': 'gt', '&': 'amp', "'": 'apos', '"': 'quot' }[c]};`);

const requestId = (): string => randomBytes(12).toString('hex').toUpperCase();

const objectFileName = (key: string): string => createHash('sha256').update(key).digest('hex');

const header = (req: IncomingMessage, name: string): string | undefined => {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
};

const operationOf = (method: string, query: Map<string, string>): OssOperation => {
  if (method === 'POST' && query.has('uploads')) return 'InitiateMultipartUpload';
  if (method === 'PUT' && query.has('uploadId') && query.has('partNumber')) return 'UploadPart';
  if (method === 'POST' && query.has('uploadId')) return 'CompleteMultipartUpload';
  if (method === 'DELETE' && query.has('uploadId')) return 'AbortMultipartUpload';
  if (method === 'GET' && query.has('uploadId')) return 'ListParts';
  if (method === 'GET' && query.get('list-type') === '2') return 'ListObjectsV2';
  if (method === 'GET' && query.has('uploads')) return 'ListMultipartUploads';
  if (method === 'PUT') return 'PutObject';
  if (method === 'GET') return 'GetObject';
  if (method === 'HEAD') return 'HeadObject';
  if (method === 'DELETE') return 'DeleteObject';
  return 'Unknown';
};

const createFaults = (): OssFaults & { take(operation: OssOperation): FaultRule | undefined } => {
  const rules: FaultRule[] = [];
  return {
    rules,
    add(rule) {
      rules.push({ ...rule });
    },
    failNext(count, options) {
      rules.push({ mode: 'error', count, status: options?.status ?? 503, operation: options?.operation });
    },
    hangNext(count, options) {
      rules.push({ mode: 'hang', count, operation: options?.operation });
    },
    resetNext(count, options) {
      rules.push({ mode: 'reset', count, operation: options?.operation });
    },
    loseAnswerNext(count, options) {
      rules.push({ mode: 'lose', count, operation: options?.operation });
    },
    failUploadPart(count, status = 503) {
      rules.push({ mode: 'error', count, status, operation: 'UploadPart' });
    },
    clear() {
      rules.length = 0;
    },
    take(operation) {
      const index = rules.findIndex((rule) => rule.operation === undefined || rule.operation === operation);
      const rule = rules[index];
      if (!rule) return undefined;
      rule.count -= 1;
      if (rule.count <= 0) rules.splice(index, 1);
      return rule;
    },
  };
};

export const startOssServer = async (options: OssServerOptions): Promise<OssServer> => {
  const objectsDir = join(options.dir, 'objects');
  const uploadsDir = join(options.dir, 'uploads');
  const tmpDir = join(options.dir, 'tmp');
  await Promise.all([objectsDir, uploadsDir, tmpDir].map((d) => mkdir(d, { recursive: true })));
  await rm(tmpDir, { recursive: true, force: true });
  await mkdir(tmpDir, { recursive: true });

  const objects = new Map<string, ObjectMeta>();
  for (const name of await readdir(objectsDir)) {
    if (!name.endsWith('.json')) continue;
    const meta = JSON.parse(await readFile(join(objectsDir, name), 'utf8')) as ObjectMeta;
    objects.set(meta.key, meta);
  }
  const uploads = new Map<string, UploadState>();
  for (const id of await readdir(uploadsDir)) {
    try {
      const saved = JSON.parse(await readFile(join(uploadsDir, id, 'upload.json'), 'utf8')) as Omit<
        UploadState,
        'parts'
      > & { parts: [number, { etag: string; size: number; lastModified: string }][] };
      uploads.set(id, { ...saved, parts: new Map(saved.parts) });
    } catch {
      await rm(join(uploadsDir, id), { recursive: true, force: true });
    }
  }

  const region = (options.region ?? 'oss-cn-hangzhou').replace(/^oss-/, '');
  let allowV1 = options.allowV1 ?? false;
  const credentials = new Map<string, StoredCredential>();
  for (const credential of [
    { accessKeyId: options.accessKeyId, accessKeySecret: options.accessKeySecret },
    ...(options.credentials ?? []),
  ]) {
    credentials.set(credential.accessKeyId, { ...credential });
  }
  const faults = createFaults();
  const requests: RequestLogEntry[] = [];
  const sockets = new Set<Socket>();
  let tmpCounter = 0;

  const log = (entry: RequestLogEntry) => {
    requests.push(entry);
    if (requests.length > 10_000) requests.shift();
  };

  const saveUpload = (upload: UploadState) =>
    writeFile(
      join(uploadsDir, upload.uploadId, 'upload.json'),
      JSON.stringify({ ...upload, parts: [...upload.parts.entries()] }),
    );

  /** Stream the request body to a temp file, hashing it; the temp file is removed if anything fails. */
  const receiveBody = async (req: IncomingMessage): Promise<{ path: string; size: number; md5: Buffer }> => {
    tmpCounter += 1;
    const path = join(tmpDir, `${process.pid}-${tmpCounter}-${randomBytes(4).toString('hex')}`);
    const hash = createHash('md5');
    let size = 0;
    try {
      await pipeline(
        req,
        async function* (source: AsyncIterable<Buffer>) {
          // Write in ~1 MB batches rather than per socket read: far fewer syscalls.
          let batch: Buffer[] = [];
          let batchBytes = 0;
          for await (const chunk of source) {
            hash.update(chunk);
            size += chunk.length;
            batch.push(chunk);
            batchBytes += chunk.length;
            if (batchBytes >= 1024 * 1024) {
              yield Buffer.concat(batch, batchBytes);
              batch = [];
              batchBytes = 0;
            }
          }
          if (batchBytes > 0) yield Buffer.concat(batch, batchBytes);
        },
        createWriteStream(path),
      );
      if (!req.complete) throw new Error('request body incomplete');
    } catch (error) {
      await rm(path, { force: true });
      throw error;
    }
    return { path, size, md5: hash.digest() };
  };

  const sendXml = (
    res: ServerResponse,
    status: number,
    body: string,
    headers: Record<string, string> = {},
  ) => {
    const payload = Buffer.from(XML_HEADER + body);
    res.writeHead(status, {
      ...headers,
      'Content-Type': 'application/xml',
      'Content-Length': String(payload.length),
    });
    res.end(payload);
  };

  const sendError = (req: IncomingMessage, res: ServerResponse, error: OssError) => {
    const id = requestId();
    const extra = Object.entries(error.extra)
      .map(([name, value]) => `<${name}>${xmlEscape(value)}</${name}>`)
      .join('');
    const xml = `<Error><Code>${error.code}</Code><Message>${xmlEscape(error.message)}</Message><RequestId>${id}</RequestId><HostId>${xmlEscape(header(req, 'host') ?? '')}</HostId>${extra}</Error>`;
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const headers = {
      'x-oss-request-id': id,
      'x-oss-err': Buffer.from(XML_HEADER + xml).toString('base64'),
      Server: 'AliyunOSS',
    };
    if (req.method === 'HEAD') {
      res.writeHead(error.status, headers);
      res.end();
      return;
    }
    sendXml(res, error.status, xml, headers);
  };

  const lookUp = (accessKeyId: string): StoredCredential => {
    const stored = credentials.get(accessKeyId);
    if (!stored) {
      throw new OssError(
        403,
        'InvalidAccessKeyId',
        'The OSS Access Key Id you provided does not exist in our records.',
      );
    }
    return stored;
  };

  /** STS credentials must come with their own, unexpired token; a long-term key with none. */
  const checkToken = (stored: StoredCredential, provided: string | undefined) => {
    if ((stored.securityToken ?? '') !== (provided ?? '')) {
      throw new OssError(403, 'InvalidSecurityToken', 'The security token you provided is invalid.');
    }
    if (stored.expiration !== undefined && Date.now() >= stored.expiration.getTime()) {
      throw new OssError(403, 'SecurityTokenExpired', 'The security token you provided has expired.');
    }
  };

  const checkSkew = (when: number) => {
    if (Math.abs(Date.now() - when) > MAX_SKEW_MS) {
      throw new OssError(
        403,
        'RequestTimeTooSkewed',
        'The difference between the request time and the current time is too large.',
      );
    }
  };

  const signatureMismatch = (accessKeyId: string, provided: string, toSign: string, extra = {}) =>
    new OssError(
      403,
      'SignatureDoesNotMatch',
      'The request signature we calculated does not match the signature you provided. Check your key and signing method.',
      { OSSAccessKeyId: accessKeyId, SignatureProvided: provided, StringToSign: toSign, ...extra },
    );

  /** V4 header auth (reference/oss.md §2.3): Authorization, x-oss-date, x-oss-content-sha256. */
  const authenticateV4Header = (
    req: IncomingMessage,
    key: string,
    query: Map<string, string>,
    authorization: string,
  ): AuthInfo => {
    const parsed = parseAuthorizationV4(authorization);
    const credential = parsed && parseCredentialV4(parsed.credential);
    if (!parsed || !credential) {
      throw new OssError(400, 'InvalidArgument', 'Authorization header is invalid.');
    }
    const timestamp = header(req, 'x-oss-date') ?? '';
    const when = parseV4Timestamp(timestamp);
    if (Number.isNaN(when)) throw new OssError(403, 'AccessDenied', 'Invalid date.');
    checkSkew(when);
    if (timestamp.slice(0, 8) !== credential.day) {
      throw new OssError(400, 'InvalidArgument', 'Invalid signing date in Authorization header.');
    }
    if (credential.region !== region) {
      throw new OssError(400, 'InvalidArgument', 'Invalid signing region in Authorization header.');
    }
    const payloadHash = header(req, 'x-oss-content-sha256');
    if (payloadHash !== UNSIGNED_PAYLOAD) {
      throw new OssError(400, 'InvalidArgument', 'x-oss-content-sha256 must be UNSIGNED-PAYLOAD.');
    }
    for (const name of parsed.additionalHeaders) {
      if (header(req, name) === undefined) {
        throw new OssError(400, 'InvalidArgument', `Additional header ${name} is missing from the request.`);
      }
    }
    const stored = lookUp(credential.accessKeyId);
    const canonical = canonicalRequestV4({
      method: req.method ?? 'GET',
      bucket: options.bucket,
      key,
      query,
      headers: req.headers,
      additionalHeaders: parsed.additionalHeaders,
      payloadHash,
    });
    const toSign = stringToSignV4(timestamp, region, canonical);
    if (!signaturesEqual(signV4(stored.accessKeySecret, credential.day, region, toSign), parsed.signature)) {
      throw signatureMismatch(credential.accessKeyId, parsed.signature, toSign, {
        CanonicalRequest: canonical,
      });
    }
    const token = header(req, 'x-oss-security-token');
    checkToken(stored, token);
    return { scheme: 'V4', accessKeyId: credential.accessKeyId, securityToken: token };
  };

  /** V4 presigned URL: x-oss-signature-version, -credential, -date, -expires, -signature[, -additional-headers]. */
  const authenticateV4Query = (req: IncomingMessage, key: string, query: Map<string, string>): AuthInfo => {
    if (query.get('x-oss-signature-version') !== V4_ALGORITHM) {
      throw new OssError(400, 'InvalidArgument', 'x-oss-signature-version must be OSS4-HMAC-SHA256.');
    }
    const credential = parseCredentialV4(query.get('x-oss-credential') ?? '');
    const timestamp = query.get('x-oss-date') ?? '';
    const when = parseV4Timestamp(timestamp);
    const expiresText = query.get('x-oss-expires') ?? '';
    const provided = query.get('x-oss-signature') ?? '';
    if (!credential || Number.isNaN(when) || !/^\d+$/.test(expiresText) || !/^[0-9a-f]{64}$/.test(provided)) {
      throw new OssError(400, 'InvalidArgument', 'The presigned URL is malformed.');
    }
    const expires = Number(expiresText);
    if (expires < 1 || expires > MAX_V4_EXPIRES_SECONDS) {
      throw new OssError(400, 'InvalidArgument', 'x-oss-expires must be between 1 and 604800 seconds.');
    }
    if (when - Date.now() > MAX_SKEW_MS) {
      throw new OssError(
        403,
        'RequestTimeTooSkewed',
        'The difference between the request time and the current time is too large.',
      );
    }
    if (Date.now() > when + expires * 1000) throw new OssError(403, 'AccessDenied', 'Request has expired.');
    if (timestamp.slice(0, 8) !== credential.day || credential.region !== region) {
      throw new OssError(400, 'InvalidArgument', 'Invalid signing date or region in x-oss-credential.');
    }
    const additionalHeaders = (query.get('x-oss-additional-headers') ?? '')
      .split(';')
      .map((name) => name.trim().toLowerCase())
      .filter(Boolean);
    const stored = lookUp(credential.accessKeyId);
    const canonical = canonicalRequestV4({
      method: req.method ?? 'GET',
      bucket: options.bucket,
      key,
      query,
      excludeQuery: ['x-oss-signature'],
      headers: req.headers,
      additionalHeaders,
      payloadHash: UNSIGNED_PAYLOAD,
    });
    const toSign = stringToSignV4(timestamp, region, canonical);
    if (!signaturesEqual(signV4(stored.accessKeySecret, credential.day, region, toSign), provided)) {
      throw signatureMismatch(credential.accessKeyId, provided, toSign, { CanonicalRequest: canonical });
    }
    const token = query.get('x-oss-security-token');
    checkToken(stored, token);
    return { scheme: 'V4-presigned', accessKeyId: credential.accessKeyId, securityToken: token };
  };

  const refuseV1 = () => {
    throw new OssError(
      403,
      'AccessDenied',
      'Signature version 1 is not supported for this bucket. Sign with OSS4-HMAC-SHA256 (signature V4).',
    );
  };

  /** V1 header auth or presigned query auth (reference/oss.md §2.1, §2.2), when allowV1 is on. */
  const authenticateV1 = (
    req: IncomingMessage,
    key: string,
    query: Map<string, string>,
    authorization: string | undefined,
  ): AuthInfo => {
    const method = req.method ?? 'GET';
    const resource = canonicalResource(options.bucket, key, query);
    let accessKeyId: string;
    let provided: string;
    let dateSlot: string;
    let token: string | undefined;
    if (authorization !== undefined) {
      const match = /^OSS ([^:]+):(.+)$/.exec(authorization);
      if (!match?.[1] || !match[2])
        throw new OssError(400, 'InvalidArgument', 'Authorization header is invalid.');
      accessKeyId = match[1];
      provided = match[2];
      dateSlot = header(req, 'x-oss-date') ?? header(req, 'date') ?? '';
      const when = Date.parse(dateSlot);
      if (dateSlot === '' || Number.isNaN(when)) throw new OssError(403, 'AccessDenied', 'Invalid date.');
      checkSkew(when);
      token = header(req, 'x-oss-security-token');
    } else {
      accessKeyId = query.get('OSSAccessKeyId') ?? '';
      provided = query.get('Signature') ?? '';
      dateSlot = query.get('Expires') ?? '';
      const expires = Number(dateSlot);
      if (!/^\d+$/.test(dateSlot)) throw new OssError(403, 'AccessDenied', 'Invalid Expires.');
      if (Date.now() / 1000 > expires) throw new OssError(403, 'AccessDenied', 'Request has expired.');
      token = query.get('security-token');
    }
    const stored = lookUp(accessKeyId);
    const toSign = stringToSign(method, req.headers, dateSlot, resource);
    if (!signaturesEqual(sign(stored.accessKeySecret, toSign), provided)) {
      throw signatureMismatch(accessKeyId, provided, toSign);
    }
    checkToken(stored, token);
    return { scheme: authorization === undefined ? 'V1-presigned' : 'V1', accessKeyId, securityToken: token };
  };

  /** Verifies the request's signature; throws OssError 4xx when it does not verify. */
  const authenticate = (req: IncomingMessage, key: string, query: Map<string, string>): AuthInfo => {
    const authorization = header(req, 'authorization');
    if (authorization?.startsWith(`${V4_ALGORITHM} `))
      return authenticateV4Header(req, key, query, authorization);
    if (authorization === undefined && query.has('x-oss-signature'))
      return authenticateV4Query(req, key, query);
    const v1 =
      authorization?.startsWith('OSS ') ||
      (authorization === undefined && (query.has('OSSAccessKeyId') || query.has('Signature')));
    if (v1) {
      if (!allowV1) refuseV1();
      return authenticateV1(req, key, query, authorization);
    }
    if (authorization !== undefined) {
      throw new OssError(400, 'InvalidArgument', 'Authorization header is invalid.');
    }
    throw new OssError(403, 'AccessDenied', 'You have no right to access this object because of bucket acl.');
  };

  const resolveKey = (req: IncomingMessage, pathname: string): string => {
    const host = (header(req, 'host') ?? '').toLowerCase();
    const virtualHost = /^([a-z0-9_-]+)\.oss-[^.]+\.aliyuncs\.com(:\d+)?$/.exec(host);
    if (virtualHost && virtualHost[1] !== options.bucket) {
      throw new OssError(404, 'NoSuchBucket', 'The specified bucket does not exist.');
    }
    let key: string;
    try {
      key = decodeURIComponent(pathname.replace(/^\/+/, ''));
    } catch {
      throw new OssError(400, 'InvalidObjectName', 'The specified object is not valid.');
    }
    return key;
  };

  const objectHeaders = (meta: ObjectMeta): Record<string, string> => ({
    ETag: `"${meta.etag}"`,
    'Last-Modified': new Date(meta.lastModified).toUTCString(),
    'Accept-Ranges': 'bytes',
    'x-oss-object-type': meta.objectType,
    'x-oss-storage-class': 'Standard',
    'x-oss-hash-crc64ecma': '0',
    ...(meta.contentDisposition ? { 'Content-Disposition': meta.contentDisposition } : {}),
  });

  /** Move the data (a file, or a folder of parts) into place and record the metadata. */
  const commitObject = async (meta: ObjectMeta, dataPath: string) => {
    const base = join(objectsDir, objectFileName(meta.key));
    await Promise.all([rm(base, { force: true }), rm(`${base}.parts`, { recursive: true, force: true })]);
    await rename(dataPath, meta.parts ? `${base}.parts` : base);
    await writeFile(`${base}.json`, JSON.stringify(meta));
    objects.set(meta.key, meta);
  };

  /** Bytes start..end (inclusive) of an object, streamed across part files when it is multipart. */
  const readRange = (meta: ObjectMeta, start: number, end: number): Readable => {
    const base = join(objectsDir, objectFileName(meta.key));
    if (!meta.parts) return createReadStream(base, { start, end, highWaterMark: 1024 * 1024 });
    const parts = meta.parts;
    return Readable.from(
      (async function* () {
        let offset = 0;
        for (const part of parts) {
          const partStart = offset;
          const partEnd = offset + part.size - 1;
          offset += part.size;
          if (partEnd < start || part.size === 0) continue;
          if (partStart > end) break;
          yield* createReadStream(join(`${base}.parts`, String(part.number)), {
            start: Math.max(0, start - partStart),
            end: Math.min(part.size - 1, end - partStart),
            highWaterMark: 1024 * 1024,
          });
        }
      })(),
    );
  };

  const requireKey = (key: string) => {
    if (key === '') throw new OssError(400, 'InvalidObjectName', 'The specified object is not valid.');
  };

  const handle = async (
    req: IncomingMessage,
    res: ServerResponse,
    operation: OssOperation,
    key: string,
    query: Map<string, string>,
  ) => {
    const base = { 'x-oss-request-id': requestId(), Server: 'AliyunOSS' };
    switch (operation) {
      case 'PutObject': {
        requireKey(key);
        const length = header(req, 'content-length');
        if (length === undefined && header(req, 'transfer-encoding') === undefined) {
          throw new OssError(411, 'MissingContentLength', 'You must provide the Content-Length HTTP header.');
        }
        if (length !== undefined && Number(length) > MAX_PUT_BYTES) {
          throw new OssError(400, 'EntityTooLarge', 'Your proposed upload exceeds the maximum allowed size.');
        }
        const body = await receiveBody(req);
        const contentMd5 = header(req, 'content-md5');
        if (contentMd5 !== undefined && contentMd5 !== body.md5.toString('base64')) {
          await rm(body.path, { force: true });
          throw new OssError(400, 'InvalidDigest', 'The Content-MD5 you specified is not valid.');
        }
        const etag = body.md5.toString('hex').toUpperCase();
        await commitObject(
          {
            key,
            size: body.size,
            etag,
            contentType: header(req, 'content-type') ?? 'application/octet-stream',
            contentDisposition: header(req, 'content-disposition'),
            lastModified: new Date().toISOString(),
            objectType: 'Normal',
          },
          body.path,
        );
        res.writeHead(200, { ...base, ETag: `"${etag}"`, 'Content-Length': '0' });
        res.end();
        return;
      }
      case 'ListMultipartUploads': {
        // Every open upload under the prefix, by key then id (the service pages by 1000: one page here).
        const prefix = query.get('prefix') ?? '';
        const open = [...uploads.values()]
          .filter((u) => u.key.startsWith(prefix))
          .sort((a, b) => a.key.localeCompare(b.key) || a.uploadId.localeCompare(b.uploadId));
        const entries = open
          .map(
            (u) =>
              `<Upload><Key>${xmlEscape(u.key)}</Key><UploadId>${u.uploadId}</UploadId><StorageClass>Standard</StorageClass><Initiated>${u.initiated ?? new Date().toISOString()}</Initiated></Upload>`,
          )
          .join('');
        const xml = `<ListMultipartUploadsResult xmlns="${NS}"><Bucket>${xmlEscape(options.bucket)}</Bucket><KeyMarker></KeyMarker><UploadIdMarker></UploadIdMarker><NextKeyMarker></NextKeyMarker><NextUploadIdMarker></NextUploadIdMarker><Delimiter></Delimiter><Prefix>${xmlEscape(prefix)}</Prefix><MaxUploads>1000</MaxUploads><IsTruncated>false</IsTruncated>${entries}</ListMultipartUploadsResult>`;
        req.resume();
        sendXml(res, 200, xml, base);
        return;
      }
      case 'ListObjectsV2': {
        // Keys in order, after the continuation token (here simply the last key of the previous page).
        const prefix = query.get('prefix') ?? '';
        const max = Math.min(1000, Math.max(1, Number(query.get('max-keys') ?? 100) || 100));
        const after = query.get('continuation-token') ?? query.get('start-after') ?? '';
        const keys = [...objects.keys()].filter((k) => k.startsWith(prefix) && k > after).sort();
        const page = keys.slice(0, max);
        const truncated = keys.length > max;
        const contents = page
          .map((k) => {
            const meta = objects.get(k)!;
            return `<Contents><Key>${xmlEscape(k)}</Key><LastModified>${new Date(meta.lastModified).toISOString()}</LastModified><ETag>"${meta.etag}"</ETag><Type>${meta.objectType}</Type><Size>${meta.size}</Size><StorageClass>Standard</StorageClass></Contents>`;
          })
          .join('');
        const xml = `${XML_HEADER}<ListBucketResult><Name>${xmlEscape(options.bucket)}</Name><Prefix>${xmlEscape(prefix)}</Prefix><MaxKeys>${max}</MaxKeys><KeyCount>${page.length}</KeyCount><IsTruncated>${truncated}</IsTruncated>${truncated ? `<NextContinuationToken>${xmlEscape(page.at(-1)!)}</NextContinuationToken>` : ''}${contents}</ListBucketResult>`;
        res.writeHead(200, {
          ...base,
          'Content-Type': 'application/xml',
          'Content-Length': String(Buffer.byteLength(xml)),
        });
        res.end(xml);
        return;
      }
      case 'GetObject':
      case 'HeadObject': {
        const meta = objects.get(key);
        if (!meta) throw new OssError(404, 'NoSuchKey', 'The specified key does not exist.', { Key: key });
        const headers: Record<string, string> = {
          ...base,
          ...objectHeaders(meta),
          'Content-Type': query.get('response-content-type') ?? meta.contentType,
        };
        const disposition = query.get('response-content-disposition');
        if (disposition !== undefined) headers['Content-Disposition'] = disposition;
        // x-oss-process (resize, video snapshot) is accepted and answered with the object itself.
        let start = 0;
        let end = meta.size - 1;
        let status = 200;
        const range = header(req, 'range');
        const match = range === undefined ? null : /^bytes=(\d*)-(\d*)$/.exec(range.trim());
        if (match && meta.size > 0 && (match[1] !== '' || match[2] !== '')) {
          if (match[1] === '') {
            start = Math.max(0, meta.size - Number(match[2]));
          } else {
            start = Number(match[1]);
            end = match[2] === '' ? meta.size - 1 : Math.min(Number(match[2]), meta.size - 1);
          }
          if (start >= meta.size || start > end) {
            throw new OssError(416, 'InvalidRange', 'The requested range cannot be satisfied.');
          }
          status = 206;
          headers['Content-Range'] = `bytes ${start}-${end}/${meta.size}`;
        }
        headers['Content-Length'] = String(meta.size === 0 ? 0 : end - start + 1);
        res.writeHead(status, headers);
        if (operation === 'HeadObject' || meta.size === 0) {
          res.end();
          return;
        }
        await pipeline(readRange(meta, start, end), res);
        return;
      }
      case 'DeleteObject': {
        requireKey(key);
        if (objects.delete(key)) {
          const file = join(objectsDir, objectFileName(key));
          await Promise.all([
            rm(file, { force: true }),
            rm(`${file}.json`, { force: true }),
            rm(`${file}.parts`, { recursive: true, force: true }),
          ]);
        }
        res.writeHead(204, base);
        res.end();
        return;
      }
      case 'InitiateMultipartUpload': {
        requireKey(key);
        const uploadId = randomBytes(16).toString('hex').toUpperCase();
        const upload: UploadState = {
          uploadId,
          key,
          contentType: header(req, 'content-type') ?? 'application/octet-stream',
          contentDisposition: header(req, 'content-disposition'),
          parts: new Map(),
          initiated: new Date().toISOString(),
        };
        await mkdir(join(uploadsDir, uploadId), { recursive: true });
        await saveUpload(upload);
        uploads.set(uploadId, upload);
        req.resume();
        sendXml(
          res,
          200,
          `<InitiateMultipartUploadResult xmlns="${NS}"><Bucket>${options.bucket}</Bucket><Key>${xmlEscape(key)}</Key><UploadId>${uploadId}</UploadId></InitiateMultipartUploadResult>`,
          base,
        );
        return;
      }
      case 'UploadPart': {
        const upload = uploads.get(query.get('uploadId') ?? '');
        if (!upload || upload.key !== key) {
          req.resume();
          throw new OssError(404, 'NoSuchUpload', 'The specified upload does not exist.');
        }
        const partNumber = Number(query.get('partNumber'));
        if (!Number.isInteger(partNumber) || partNumber < 1 || partNumber > 10_000) {
          req.resume();
          throw new OssError(400, 'InvalidArgument', 'Part number must be an integer between 1 and 10000.');
        }
        const body = await receiveBody(req);
        // The upload may have been aborted while this part streamed in.
        if (!uploads.has(upload.uploadId)) {
          await rm(body.path, { force: true });
          throw new OssError(404, 'NoSuchUpload', 'The specified upload does not exist.');
        }
        await rename(body.path, join(uploadsDir, upload.uploadId, String(partNumber)));
        const etag = body.md5.toString('hex').toUpperCase();
        upload.parts.set(partNumber, { etag, size: body.size, lastModified: new Date().toISOString() });
        await saveUpload(upload);
        res.writeHead(200, { ...base, ETag: `"${etag}"`, 'Content-Length': '0' });
        res.end();
        return;
      }
      case 'CompleteMultipartUpload': {
        const upload = uploads.get(query.get('uploadId') ?? '');
        const chunks: Buffer[] = [];
        let total = 0;
        for await (const chunk of req as AsyncIterable<Buffer>) {
          total += chunk.length;
          if (total > 4 * 1024 * 1024)
            throw new OssError(400, 'MalformedXML', 'The XML you provided is too large.');
          chunks.push(chunk);
        }
        if (!upload || upload.key !== key) {
          throw new OssError(404, 'NoSuchUpload', 'The specified upload does not exist.');
        }
        const xml = Buffer.concat(chunks).toString('utf8');
        const contentMd5 = header(req, 'content-md5');
        if (contentMd5 !== undefined && contentMd5 !== createHash('md5').update(xml).digest('base64')) {
          throw new OssError(400, 'InvalidDigest', 'The Content-MD5 you specified is not valid.');
        }
        const requested = [
          ...xml.matchAll(/<Part>\s*<PartNumber>(\d+)<\/PartNumber>\s*<ETag>([^<]*)<\/ETag>/g),
        ].map((m) => ({ number: Number(m[1]), etag: (m[2] ?? '').replace(/&quot;|"/g, '').toUpperCase() }));
        if (!/<CompleteMultipartUpload>/.test(xml) || requested.length === 0) {
          throw new OssError(400, 'MalformedXML', 'The XML you provided was not well-formed.');
        }
        for (let i = 0; i < requested.length; i += 1) {
          const part = requested[i]!;
          const previous = requested[i - 1];
          if (previous && previous.number >= part.number) {
            throw new OssError(400, 'InvalidPartOrder', 'The list of parts was not in ascending order.');
          }
          const stored = upload.parts.get(part.number);
          if (!stored || stored.etag !== part.etag) {
            throw new OssError(400, 'InvalidPart', 'One or more of the specified parts could not be found.');
          }
          if (i < requested.length - 1 && stored.size < MIN_PART_BYTES) {
            throw new OssError(
              400,
              'EntityTooSmall',
              'Your proposed upload is smaller than the minimum size.',
            );
          }
        }
        const etagHash = createHash('md5');
        let size = 0;
        const parts: { number: number; size: number }[] = [];
        for (const part of requested) {
          etagHash.update(Buffer.from(part.etag, 'hex'));
          const stored = upload.parts.get(part.number)!;
          size += stored.size;
          parts.push({ number: part.number, size: stored.size });
        }
        // Parts uploaded but not listed are dropped, as OSS does.
        const listed = new Set(requested.map((p) => p.number));
        for (const number of upload.parts.keys()) {
          if (!listed.has(number))
            await rm(join(uploadsDir, upload.uploadId, String(number)), { force: true });
        }
        await rm(join(uploadsDir, upload.uploadId, 'upload.json'), { force: true });
        const etag = `${etagHash.digest('hex').toUpperCase()}-${requested.length}`;
        uploads.delete(upload.uploadId);
        await commitObject(
          {
            key,
            size,
            etag,
            contentType: upload.contentType,
            contentDisposition: upload.contentDisposition,
            lastModified: new Date().toISOString(),
            objectType: 'Multipart',
            parts,
          },
          join(uploadsDir, upload.uploadId),
        );
        sendXml(
          res,
          200,
          `<CompleteMultipartUploadResult xmlns="${NS}"><Location>${xmlEscape(`${serverUrl}/${key}`)}</Location><Bucket>${options.bucket}</Bucket><Key>${xmlEscape(key)}</Key><ETag>"${etag}"</ETag></CompleteMultipartUploadResult>`,
          { ...base, ETag: `"${etag}"` },
        );
        return;
      }
      case 'AbortMultipartUpload': {
        const upload = uploads.get(query.get('uploadId') ?? '');
        if (!upload || upload.key !== key) {
          throw new OssError(404, 'NoSuchUpload', 'The specified upload does not exist.');
        }
        uploads.delete(upload.uploadId);
        await rm(join(uploadsDir, upload.uploadId), { recursive: true, force: true });
        res.writeHead(204, base);
        res.end();
        return;
      }
      case 'ListParts': {
        const upload = uploads.get(query.get('uploadId') ?? '');
        if (!upload || upload.key !== key) {
          throw new OssError(404, 'NoSuchUpload', 'The specified upload does not exist.');
        }
        const maxParts = Math.min(1000, Number(query.get('max-parts') ?? 1000) || 1000);
        const marker = Number(query.get('part-number-marker') ?? 0) || 0;
        const all = [...upload.parts.entries()].filter(([n]) => n > marker).sort(([a], [b]) => a - b);
        const page = all.slice(0, maxParts);
        const truncated = all.length > maxParts;
        const next = page.at(-1)?.[0] ?? marker;
        const parts = page
          .map(
            ([n, p]) =>
              `<Part><PartNumber>${n}</PartNumber><LastModified>${p.lastModified}</LastModified><ETag>"${p.etag}"</ETag><Size>${p.size}</Size></Part>`,
          )
          .join('');
        sendXml(
          res,
          200,
          `<ListPartsResult xmlns="${NS}"><Bucket>${options.bucket}</Bucket><Key>${xmlEscape(key)}</Key><UploadId>${upload.uploadId}</UploadId><PartNumberMarker>${marker}</PartNumberMarker><NextPartNumberMarker>${next}</NextPartNumberMarker><MaxParts>${maxParts}</MaxParts><IsTruncated>${truncated}</IsTruncated>${parts}</ListPartsResult>`,
          base,
        );
        return;
      }
      default:
        throw new OssError(
          405,
          'MethodNotAllowed',
          'The specified method is not allowed against this resource.',
        );
    }
  };

  const handleAdmin = async (req: IncomingMessage, res: ServerResponse, pathname: string) => {
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (pathname === '/__faults' && req.method === 'POST') {
      let text = '';
      for await (const chunk of req as AsyncIterable<Buffer>) text += chunk.toString('utf8');
      const body = JSON.parse(text || '{}') as {
        clear?: boolean;
        mode?: FaultMode;
        count?: number | 'all';
        status?: number;
        operation?: OssOperation;
      };
      if (body.clear) faults.clear();
      if (body.mode) {
        faults.add({
          mode: body.mode,
          count: body.count === 'all' ? Number.POSITIVE_INFINITY : (body.count ?? 1),
          status: body.status,
          operation: body.operation,
        });
      }
      send(200, {
        rules: faults.rules.map((r) => ({ ...r, count: Number.isFinite(r.count) ? r.count : 'all' })),
      });
      return;
    }
    if (pathname === '/__state' && req.method === 'GET') {
      send(200, { objects: [...objects.keys()], uploads: listMultipartUploads() });
      return;
    }
    send(404, { error: 'unknown admin endpoint' });
  };

  const listMultipartUploads = (): MultipartUploadInfo[] =>
    [...uploads.values()].map((u) => ({
      uploadId: u.uploadId,
      key: u.key,
      parts: [...u.parts.keys()].sort((a, b) => a - b),
    }));

  const server: Server = createServer((req, res) => {
    const rawUrl = req.url ?? '/';
    const q = rawUrl.indexOf('?');
    const pathname = q === -1 ? rawUrl : rawUrl.slice(0, q);
    if (pathname.startsWith('/__')) {
      handleAdmin(req, res, pathname).catch(() => res.destroy());
      return;
    }
    let query: Map<string, string>;
    try {
      query = parseQuery(q === -1 ? '' : rawUrl.slice(q + 1));
    } catch {
      query = new Map();
    }
    const method = req.method ?? 'GET';
    const operation = operationOf(method, query);
    let key = '';
    const fault = faults.take(operation);
    const contentMd5 = header(req, 'content-md5');
    const entry: RequestLogEntry = {
      method,
      operation,
      key,
      status: 0,
      host: header(req, 'host') ?? '',
      ...(contentMd5 === undefined ? {} : { contentMd5 }),
    };
    log(entry);
    if (fault?.mode === 'hang') {
      entry.status = 'hang';
      req.resume();
      return;
    }
    if (fault?.mode === 'reset') {
      entry.status = 'reset';
      req.socket.resetAndDestroy();
      return;
    }
    (async () => {
      try {
        key = resolveKey(req, pathname);
        entry.key = key;
        const auth = authenticate(req, key, query);
        entry.auth = auth.scheme;
        entry.accessKeyId = auth.accessKeyId;
        entry.securityToken = auth.securityToken;
        if (fault?.mode === 'error') {
          throw new OssError(fault.status ?? 503, 'ServiceUnavailable', 'Injected fault: please retry.');
        }
        if (fault?.mode === 'lose') {
          const socket = req.socket;
          res.writeHead = (() => res) as typeof res.writeHead;
          res.write = (() => true) as typeof res.write;
          res.end = (() => {
            socket.resetAndDestroy();
            return res;
          }) as typeof res.end;
        }
        await handle(req, res, operation, key, query);
        entry.status = fault?.mode === 'lose' ? 'lost' : res.statusCode;
      } catch (error) {
        const ossError =
          error instanceof OssError
            ? error
            : new OssError(500, 'InternalError', 'We encountered an internal error. Please try again.');
        entry.status = ossError.status;
        if (req.destroyed || req.readableAborted) {
          res.destroy();
          return;
        }
        // Drain an unread body before answering so keep-alive clients see the error, not a reset.
        if (!req.readableEnded) {
          req.resume();
          await new Promise<void>((resolve) => {
            req.once('end', resolve);
            req.once('close', resolve);
          });
        }
        sendError(req, res, ossError);
      }
    })();
  });
  // Long uploads (a 4 GiB PutObject) must not hit Node's 5-minute request timeout, and a longer
  // keep-alive than the client's idle time avoids EPIPE on a reused socket.
  server.requestTimeout = 0;
  server.keepAliveTimeout = 30_000;
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const serverUrl = `http://localhost:${port}`;

  return {
    url: serverUrl,
    internalUrl: `http://127.0.0.1:${port}`,
    publicHost: `localhost:${port}`,
    internalHost: `${options.bucket}.oss-${region}-internal.aliyuncs.com`,
    region,
    get allowV1() {
      return allowV1;
    },
    set allowV1(value: boolean) {
      allowV1 = value;
    },
    addCredentials: (credential) => {
      credentials.set(credential.accessKeyId, { ...credential });
    },
    removeCredentials: (accessKeyId) => {
      credentials.delete(accessKeyId);
    },
    port,
    bucket: options.bucket,
    faults,
    requests,
    objectKeys: () => [...objects.keys()].sort(),
    listMultipartUploads,
    readObject: (key) => {
      const meta = objects.get(key);
      if (!meta) throw new Error(`No such object: ${key}`);
      return meta.size === 0 ? Readable.from([]) : readRange(meta, 0, meta.size - 1);
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      }),
  };
};
