import { createHmac } from 'node:crypto';
import { createRequire } from 'node:module';
import { format, parse, type UrlObject } from 'node:url';
import type OSS from 'ali-oss';
import type { OssCredentials } from './oss-credentials.ts';

/** The V4 helpers ali-oss 6.23 signs with (lib/common/signUtils.js); `signatureUrlV4` is built on them. */
interface SignUtils {
  getCredential(day: string, region: string, accessKeyId: string): string;
  getCanonicalRequest(
    method: string,
    request: { headers: Record<string, string>; queries: Record<string, unknown> },
    bucket: string,
    object: string,
  ): string;
  getStringToSign(region: string, timestamp: string, canonicalRequest: string): string;
}

const signUtils = createRequire(import.meta.url)('ali-oss/lib/common/signUtils.js') as SignUtils;

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
 * can be made without waiting. `client` gives the host (the public endpoint) and bucket.
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
  const queries: Record<string, string | number> = {
    ...input.queries,
    'x-oss-credential': signUtils.getCredential(day, region, input.credentials.accessKeyId),
    'x-oss-date': timestamp,
    'x-oss-expires': input.expiresSeconds,
    'x-oss-signature-version': 'OSS4-HMAC-SHA256',
  };
  if (input.credentials.securityToken) queries['x-oss-security-token'] = input.credentials.securityToken;
  const canonicalRequest = signUtils.getCanonicalRequest(
    input.method,
    { headers: {}, queries },
    input.bucket,
    input.key,
  );
  const stringToSign = signUtils.getStringToSign(region, timestamp, canonicalRequest);
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
  const url: UrlObject = parse(base);
  url.query = queries;
  url.search = null;
  return format(url);
}
