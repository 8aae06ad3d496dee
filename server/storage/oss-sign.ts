import { createHash, createHmac } from 'node:crypto';
import { stringify } from 'node:querystring';
import type OSS from 'ali-oss';
import type { OssCredentials } from './oss-credentials.ts';

/**
 * `encodeURIComponent`, and `!'()*` too: how ali-oss 6.23 encodes the canonical URI and query of a V4
 * signature (lib/common/utils/encodeString.js).
 */
const encodeString = (value: string): string =>
  encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

/** The order ali-oss sorts the canonical query in (`localeCompare`), without a collator per comparison. */
const collator = new Intl.Collator();

/** `20261128/cn-hangzhou/oss/aliyun_v4_request`, with the access key id in front for the credential. */
const scopeOf = (day: string, region: string): string => `${day}/${region}/oss/aliyun_v4_request`;

/** The last V4 signing key derived: it changes only with the day, the region or the secret. */
let lastKey: { secret: string; day: string; region: string; key: Buffer } | null = null;

/**
 * The V4 signing key, `HMAC chain "aliyun_v4"+secret → day → region → "oss" → "aliyun_v4_request"`, as
 * ali-oss's getSignatureV4 derives it before its final HMAC: four of a URL's five HMACs, made once a day.
 */
function signingKey(secret: string, day: string, region: string): Buffer {
  if (lastKey && lastKey.secret === secret && lastKey.day === day && lastKey.region === region)
    return lastKey.key;
  let key = createHmac('sha256', `aliyun_v4${secret}`).update(day).digest();
  for (const part of [region, 'oss', 'aliyun_v4_request'])
    key = createHmac('sha256', key).update(part).digest();
  lastKey = { secret, day, region, key };
  return key;
}

/** `oss-cn-hangzhou` → `cn-hangzhou`, as ali-oss derives the V4 signing region. */
export const v4Region = (region: string): string => region.replace(/^oss-/, '');

/** `20261128T210829Z` for a date. */
const v4Timestamp = (date: Date): string =>
  date
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');

/**
 * A V4 presigned URL, the same as ali-oss's `signatureUrlV4(method, expires, { queries }, key)` returns
 * (it is async only to refresh STS tokens, which our credential source does instead), so that read URLs
 * can be made without waiting: the canonical request and string to sign built as its signUtils.js builds
 * them (no headers are signed), in plain strings. `client` gives the host (the public endpoint) and bucket.
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
  const region = v4Region(input.region);
  const timestamp = v4Timestamp(input.now ?? new Date());
  const day = timestamp.slice(0, 8);
  const scope = scopeOf(day, region);
  const queries: Record<string, string> = {
    ...input.queries,
    'x-oss-credential': `${input.credentials.accessKeyId}/${scope}`,
    'x-oss-date': timestamp,
    'x-oss-expires': String(input.expiresSeconds),
    'x-oss-signature-version': 'OSS4-HMAC-SHA256',
  };
  if (input.credentials.securityToken) queries['x-oss-security-token'] = input.credentials.securityToken;
  const canonicalQuery = Object.keys(queries)
    .sort(collator.compare)
    .map((name) => `${encodeString(name)}=${encodeString(queries[name]!)}`)
    .join('&');
  const canonicalRequest = [
    input.method,
    encodeString(`/${input.bucket}/${input.key}`).replace(/%2F/g, '/'),
    canonicalQuery,
    '', // no signed headers
    '',
    'UNSIGNED-PAYLOAD',
  ].join('\n');
  const stringToSign = [
    'OSS4-HMAC-SHA256',
    timestamp,
    scope,
    createHash('sha256').update(canonicalRequest).digest('hex'),
  ].join('\n');
  queries['x-oss-signature'] = createHmac(
    'sha256',
    signingKey(input.credentials.accessKeySecret, day, region),
  )
    .update(stringToSign)
    .digest('hex');
  // _getReqUrl is how ali-oss builds the object URL (virtual host or cname); real but not in @types.
  const base = (
    input.client as unknown as { _getReqUrl(p: { bucket: string; object: string }): string }
  )._getReqUrl({ bucket: input.bucket, object: input.key });
  // ali-oss formats it through url.parse, which also escapes the `'` that encodeURIComponent leaves.
  return `${base.replace(/'/g, '%27')}?${stringify(queries)}`;
}
