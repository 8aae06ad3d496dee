import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';

/** OSS sub-resources that belong in the V1 canonical resource (reference/oss.md §2.1, oss2 `_subresource_key_set`). */
const SUBRESOURCES = new Set([
  'acl',
  'uploads',
  'location',
  'cors',
  'logging',
  'website',
  'referer',
  'lifecycle',
  'delete',
  'append',
  'tagging',
  'objectMeta',
  'uploadId',
  'partNumber',
  'security-token',
  'position',
  'img',
  'style',
  'styleName',
  'replication',
  'replicationProgress',
  'replicationLocation',
  'cname',
  'bucketInfo',
  'comp',
  'qos',
  'live',
  'status',
  'vod',
  'startTime',
  'endTime',
  'symlink',
  'x-oss-process',
  'response-content-type',
  'response-content-language',
  'response-expires',
  'response-cache-control',
  'response-content-disposition',
  'response-content-encoding',
  'udf',
  'versionId',
  'versions',
  'versioning',
  'policy',
  'restore',
  'callback',
  'callback-var',
  'x-oss-traffic-limit',
  'encryption',
  'worm',
  'inventory',
  'continuation-token',
]);

/** Query parsed the way OSS reads it: percent-decoding only, `+` stays a plus. */
export const parseQuery = (rawQuery: string): Map<string, string> => {
  const query = new Map<string, string>();
  for (const pair of rawQuery.split('&')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const name = decodeURIComponent(eq === -1 ? pair : pair.slice(0, eq));
    const value = eq === -1 ? '' : decodeURIComponent(pair.slice(eq + 1));
    query.set(name, value);
  }
  return query;
};

export const canonicalResource = (bucket: string, key: string, query: Map<string, string>): string => {
  const subresources = [...query.entries()]
    .filter(([name]) => SUBRESOURCES.has(name))
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([name, value]) => (value === '' ? name : `${name}=${value}`));
  const resource = `/${bucket}/${key}`;
  return subresources.length > 0 ? `${resource}?${subresources.join('&')}` : resource;
};

const headerValue = (headers: IncomingHttpHeaders, name: string): string => {
  const value = headers[name];
  return Array.isArray(value) ? value.join(',') : (value ?? '');
};

export const canonicalOssHeaders = (headers: IncomingHttpHeaders): string =>
  Object.keys(headers)
    .filter((name) => name.toLowerCase().startsWith('x-oss-'))
    .map((name) => name.toLowerCase())
    .sort()
    .map((name) => `${name}:${headerValue(headers, name).trim()}\n`)
    .join('');

/** V1 string to sign: VERB, Content-MD5, Content-Type (verbatim, even on GET), date or Expires, x-oss-*, resource. */
export const stringToSign = (
  method: string,
  headers: IncomingHttpHeaders,
  dateOrExpires: string,
  resource: string,
): string =>
  [
    method,
    headerValue(headers, 'content-md5'),
    headerValue(headers, 'content-type'),
    dateOrExpires,
    `${canonicalOssHeaders(headers)}${resource}`,
  ].join('\n');

export const sign = (secret: string, toSign: string): string =>
  createHmac('sha1', secret).update(Buffer.from(toSign, 'utf8')).digest('base64');

export const signaturesEqual = (a: string, b: string): boolean => {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
};

// ---------------------------------------------------------------------------------------------
// Signature V4 (OSS4-HMAC-SHA256), reference/oss.md §2.3 and ali-oss lib/common/signUtils.js.

export const V4_ALGORITHM = 'OSS4-HMAC-SHA256';
export const UNSIGNED_PAYLOAD = 'UNSIGNED-PAYLOAD';

/** RFC 3986 encoding as OSS V4 uses it: encodeURIComponent plus `!'()*`. */
export const encodeV4 = (value: string): string =>
  encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

/** `/bucket/key`, each character encoded except the slashes. */
export const canonicalUriV4 = (bucket: string, key: string): string =>
  encodeV4(`/${bucket}/${key}`).replace(/%2F/g, '/');

/** Every query parameter (but the signature itself), encoded, sorted; an empty value is written as the bare name. */
export const canonicalQueryV4 = (query: Map<string, string>, exclude: readonly string[] = []): string =>
  [...query.entries()]
    .filter(([name]) => !exclude.includes(name))
    .map(([name, value]) => [encodeV4(name), value === '' ? '' : encodeV4(value)] as const)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([name, value]) => (value === '' ? name : `${name}=${value}`))
    .join('&');

/** content-type, content-md5, every x-oss-* header and the additional headers: `name:trimmed value\n`, sorted. */
export const canonicalHeadersV4 = (headers: IncomingHttpHeaders, additional: readonly string[]): string => {
  const names = new Set(additional);
  for (const name of Object.keys(headers)) {
    const lower = name.toLowerCase();
    if (lower === 'content-type' || lower === 'content-md5' || lower.startsWith('x-oss-')) names.add(lower);
  }
  return [...names]
    .sort()
    .map((name) => `${name}:${headerValue(headers, name).trim()}\n`)
    .join('');
};

export const canonicalRequestV4 = (input: {
  method: string;
  bucket: string;
  key: string;
  query: Map<string, string>;
  excludeQuery?: readonly string[];
  headers: IncomingHttpHeaders;
  additionalHeaders: readonly string[];
  payloadHash: string;
}): string =>
  [
    input.method.toUpperCase(),
    canonicalUriV4(input.bucket, input.key),
    canonicalQueryV4(input.query, input.excludeQuery),
    canonicalHeadersV4(input.headers, input.additionalHeaders),
    input.additionalHeaders.join(';'),
    input.payloadHash,
  ].join('\n');

export const scopeV4 = (day: string, region: string): string => `${day}/${region}/oss/aliyun_v4_request`;

export const stringToSignV4 = (timestamp: string, region: string, canonicalRequest: string): string =>
  [
    V4_ALGORITHM,
    timestamp,
    scopeV4(timestamp.slice(0, 8), region),
    createHash('sha256').update(canonicalRequest).digest('hex'),
  ].join('\n');

export const signV4 = (secret: string, day: string, region: string, toSign: string): string => {
  const hmac = (key: string | Buffer, data: string) => createHmac('sha256', key).update(data).digest();
  const signingKey = hmac(hmac(hmac(hmac(`aliyun_v4${secret}`, day), region), 'oss'), 'aliyun_v4_request');
  return createHmac('sha256', signingKey).update(toSign).digest('hex');
};

/** `20261128T210829Z` → epoch ms, or NaN when it is not that format. */
export const parseV4Timestamp = (value: string): number => {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value);
  if (!m) return Number.NaN;
  return Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]));
};

export interface V4Credential {
  accessKeyId: string;
  day: string;
  region: string;
}

/** `AK/yyyymmdd/region/oss/aliyun_v4_request` → its parts, or undefined when malformed. */
export const parseCredentialV4 = (value: string): V4Credential | undefined => {
  const m = /^([^/]+)\/(\d{8})\/([^/]+)\/oss\/aliyun_v4_request$/.exec(value);
  if (!m?.[1] || !m[2] || !m[3]) return undefined;
  return { accessKeyId: m[1], day: m[2], region: m[3] };
};

/**
 * `OSS4-HMAC-SHA256 Credential=...,AdditionalHeaders=a;b,Signature=hex` (a space after the commas is
 * accepted too, as the OSS docs write it).
 */
export const parseAuthorizationV4 = (
  value: string,
): { credential: string; additionalHeaders: string[]; signature: string } | undefined => {
  if (!value.startsWith(`${V4_ALGORITHM} `)) return undefined;
  const fields = new Map<string, string>();
  for (const part of value.slice(V4_ALGORITHM.length + 1).split(',')) {
    const eq = part.indexOf('=');
    if (eq === -1) return undefined;
    fields.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  }
  const credential = fields.get('Credential');
  const signature = fields.get('Signature');
  if (!credential || !signature || !/^[0-9a-f]{64}$/.test(signature)) return undefined;
  const additional = fields.get('AdditionalHeaders');
  return {
    credential,
    signature,
    additionalHeaders: additional ? additional.split(';').map((h) => h.trim().toLowerCase()) : [],
  };
};
