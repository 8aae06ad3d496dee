import { createHmac, timingSafeEqual } from 'node:crypto';
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
