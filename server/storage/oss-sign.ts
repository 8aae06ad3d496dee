import { createHmac, hash } from 'node:crypto';
import { stringify } from 'node:querystring';
import type OSS from 'ali-oss';
import type { OssCredentials } from './oss-credentials.ts';

/**
 * The V4 signing key, `HMAC chain "aliyun_v4"+secret → day → region → "oss" → "aliyun_v4_request"`, as
 * ali-oss's getSignatureV4 derives it before its final HMAC: four of a URL's five HMACs, made once per
 * step of signing time (`sharedFor` keeps it with the rest of what a step's URLs share).
 */
function signingKey(secret: string, day: string, region: string): Buffer {
  let key = createHmac('sha256', `aliyun_v4${secret}`).update(day).digest();
  for (const part of [region, 'oss', 'aliyun_v4_request'])
    key = createHmac('sha256', key).update(part).digest();
  return key;
}

/** `oss-cn-hangzhou` → `cn-hangzhou`, as ali-oss derives the V4 signing region. */
export const v4Region = (region: string): string => region.replace(/^oss-/, '');

/** The last signing time and its text: every URL of a step of time is signed at the step's start. */
let lastTimestamp = { ms: Number.NaN, text: '' };

/** `20261128T210829Z` for a date. */
const v4Timestamp = (date: Date): string => {
  const ms = date.getTime();
  if (ms !== lastTimestamp.ms) {
    const text = date
      .toISOString()
      .replace(/[-:]/g, '')
      .replace(/\.\d{3}/, '');
    lastTimestamp = { ms, text };
  }
  return lastTimestamp.text;
};

/** Characters that RFC 3986 leaves as they are. */
const UNRESERVED = /^[\w.~-]*$/;
/** The same, and the slash. */
const UNRESERVED_PATH = /^[\w.~/-]*$/;

/** RFC 3986 encoding, as ali-oss's `encodeString` signs with: `encodeURIComponent` plus `!'()*`. */
const encodeRfc3986 = (value: string): string =>
  UNRESERVED.test(value)
    ? value
    : encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

/** A path RFC 3986-encoded with its slashes kept (an object key in a canonical request). */
const encodeRfc3986Path = (path: string): string =>
  UNRESERVED_PATH.test(path) ? path : encodeRfc3986(path).replace(/%2F/g, '/');

/** Each signing client's object URL origin (`http://host`), as its `_getReqUrl` builds it. */
const origins = new WeakMap<OSS, string>();

/**
 * An object's URL without a query, as ali-oss's `signatureUrlV4` gives it: `_getReqUrl`'s origin, the
 * key encoded by `encodeURIComponent` with its slashes kept, and then the `'` that `url.parse` escapes.
 */
function objectUrl(client: OSS, bucket: string, key: string): string {
  let origin = origins.get(client);
  if (origin === undefined) {
    // _getReqUrl is how ali-oss builds the object URL (virtual host, cname or IP); real but not in @types.
    const root = (
      client as unknown as { _getReqUrl(p: { bucket: string; object: string }): string }
    )._getReqUrl({ bucket, object: '' });
    origin = root.replace(/\/$/, '');
    origins.set(client, origin);
  }
  if (UNRESERVED_PATH.test(key)) return `${origin}/${key}`;
  let path: string;
  try {
    path = encodeURIComponent(key);
  } catch {
    path = key; // a lone surrogate: ali-oss's encoder leaves the name as it is
  }
  return `${origin}/${path.replace(/%2F/g, '/').replace(/'/g, '%27')}`;
}

/**
 * What every URL signed with the same credentials, region, time and lifetime shares: the query's fixed
 * parameters, encoded once for the canonical request (sorted by name) and once for the URL, the scope
 * and the signing key. A page of outputs signs three URLs each, all in one step of time.
 */
interface Shared {
  accessKeyId: string;
  accessKeySecret: string;
  securityToken: string | undefined;
  region: string;
  timestamp: string;
  expiresSeconds: number;
  /** `name=value`, RFC 3986-encoded, with the name, in name order. */
  canonical: { name: string; pair: string }[];
  /** The same parameters as the URL carries them (`querystring.stringify`, in ali-oss's order). */
  urlQuery: string;
  scope: string;
  key: Buffer;
}

let lastShared: Shared | null = null;

/** The query parameters the signature itself sets. */
const SIGNING_PARAMETERS = new Set([
  'x-oss-credential',
  'x-oss-date',
  'x-oss-expires',
  'x-oss-signature-version',
  'x-oss-security-token',
  'x-oss-signature',
]);

function sharedFor(credentials: OssCredentials, region: string, timestamp: string, expiresSeconds: number) {
  const last = lastShared;
  if (
    last &&
    last.timestamp === timestamp &&
    last.region === region &&
    last.expiresSeconds === expiresSeconds &&
    last.accessKeyId === credentials.accessKeyId &&
    last.accessKeySecret === credentials.accessKeySecret &&
    last.securityToken === credentials.securityToken
  )
    return last;
  const day = timestamp.slice(0, 8);
  const fixed: Record<string, string> = {
    'x-oss-credential': `${credentials.accessKeyId}/${day}/${region}/oss/aliyun_v4_request`,
    'x-oss-date': timestamp,
    'x-oss-expires': String(expiresSeconds),
    'x-oss-signature-version': 'OSS4-HMAC-SHA256',
  };
  if (credentials.securityToken) fixed['x-oss-security-token'] = credentials.securityToken;
  lastShared = {
    accessKeyId: credentials.accessKeyId,
    accessKeySecret: credentials.accessKeySecret,
    securityToken: credentials.securityToken,
    region,
    timestamp,
    expiresSeconds,
    canonical: canonicalPairs(fixed),
    urlQuery: stringify(fixed),
    scope: `${day}/${region}/oss/aliyun_v4_request`,
    key: signingKey(credentials.accessKeySecret, day, region),
  };
  return lastShared;
}

/**
 * Query parameters as the canonical request lists them. ali-oss sorts the names with localeCompare; for
 * names of lower-case letters and hyphens, as these are, that is code point order, at a fraction of the cost.
 */
const canonicalPairs = (queries: Record<string, string>) =>
  Object.keys(queries)
    .sort()
    .map((name) => ({ name, pair: `${encodeRfc3986(name)}=${encodeRfc3986(queries[name]!)}` }));

/**
 * A V4 presigned URL, the same as ali-oss's `signatureUrlV4(method, expires, { queries }, key)` returns
 * (it is async only to refresh STS tokens, which our credential source does instead), so that read URLs
 * can be made without waiting. `client` gives the host (the public endpoint). The canonical request and
 * the URL are built here as ali-oss builds them (its signUtils, `url.parse` and `url.format`), at a
 * fraction of the cost: a generated image's answer signs three, which share all but their own
 * parameters (`queries`) and the final HMAC.
 */
export function presignV4(input: {
  client: OSS;
  bucket: string;
  region: string;
  credentials: OssCredentials;
  method: 'GET' | 'HEAD';
  key: string;
  expiresSeconds: number;
  queries?: Record<string, string>;
  now?: Date;
}): string {
  const timestamp = v4Timestamp(input.now ?? new Date());
  const shared = sharedFor(input.credentials, v4Region(input.region), timestamp, input.expiresSeconds);
  // The signing parameters win over a caller's of the same name.
  const own: Record<string, string> = {};
  for (const [name, value] of Object.entries(input.queries ?? {}))
    if (!SIGNING_PARAMETERS.has(name)) own[name] = value;
  const ownPairs = canonicalPairs(own);
  const canonicalQuery = (
    ownPairs.length ? [...shared.canonical, ...ownPairs].sort(byName) : shared.canonical
  )
    .map((p) => p.pair)
    .join('&');
  // Method, URI, query, no signed headers, no additional headers, an unsigned payload.
  const canonicalRequest = [
    input.method,
    encodeRfc3986Path(`/${input.bucket}/${input.key}`),
    canonicalQuery,
    '',
    '',
    'UNSIGNED-PAYLOAD',
  ].join('\n');
  const stringToSign = [
    'OSS4-HMAC-SHA256',
    timestamp,
    shared.scope,
    hash('sha256', canonicalRequest, 'hex'),
  ].join('\n');
  const signature = createHmac('sha256', shared.key).update(stringToSign).digest('hex');
  // ali-oss's order: the caller's parameters, the signing ones, the signature.
  const ownQuery = ownPairs.length ? `${stringify(own)}&` : '';
  return `${objectUrl(input.client, input.bucket, input.key)}?${ownQuery}${shared.urlQuery}&x-oss-signature=${signature}`;
}

const byName = (a: { name: string }, b: { name: string }) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
