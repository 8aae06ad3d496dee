import { lookup as dnsLookup } from 'node:dns';
import { request as httpRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { BlockList, isIP, type LookupFunction } from 'node:net';
import { AppError } from '../../shared/errors.ts';

/** Addresses a provider result must never point at (SPEC §6): cloud metadata, loopback, private, link-local. */
const blocked = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10], // carrier-grade NAT, includes 100.100.100.200 (Alibaba Cloud metadata)
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) {
  blocked.addSubnet(net, prefix, 'ipv4');
}
for (const [net, prefix] of [
  ['::', 128],
  ['::1', 128],
  // IPv4 inside IPv6: each form can carry a private IPv4 address past the IPv4 rules.
  // (IPv4-mapped ::ffff:a.b.c.d needs no entry: BlockList checks it against the IPv4 rules above.)
  ['::', 96], // IPv4-compatible (deprecated), ::a.b.c.d
  ['64:ff9b::', 96], // NAT64 well-known prefix: 64:ff9b::a9fe:a9fe is 169.254.169.254 through a translator
  ['64:ff9b:1::', 48], // NAT64 local-use prefix
  ['2002::', 16], // 6to4: 2002:7f00:1::/48 embeds 127.0.0.1
  ['2001::', 32], // Teredo: embeds an IPv4 server and (obfuscated) client address
  ['100::', 64], // discard-only
  ['2001:db8::', 32], // documentation
  ['fec0::', 10], // site-local (deprecated, still private)
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
] as const) {
  blocked.addSubnet(net, prefix, 'ipv6');
}

/**
 * Cloud metadata endpoints stay refused even with ALLOW_PRIVATE_NETWORK_FETCH: the flag exists for test
 * servers on loopback, and nothing legitimate serves a generated file from 169.254.0.0/16 or 100.100.100.200.
 */
const metadata = new BlockList();
metadata.addSubnet('169.254.0.0', 16, 'ipv4');
metadata.addAddress('100.100.100.200', 'ipv4');

/** True for link-local and cloud metadata addresses, refused whatever the flag says. */
export const isMetadataAddress = (address: string): boolean => {
  // BlockList matches IPv4-mapped IPv6 (::ffff:a9fe:a9fe) against IPv4 rules by itself.
  const family = isIP(address);
  return family !== 0 && metadata.check(address, family === 4 ? 'ipv4' : 'ipv6');
};

/** True for loopback, private, link-local, metadata and other non-public addresses (IPv4-mapped too). */
export const isPrivateAddress = (address: string): boolean => {
  const family = isIP(address);
  if (family === 4) return blocked.check(address, 'ipv4');
  if (family === 6) {
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
    if (mapped?.[1]) return blocked.check(mapped[1], 'ipv4');
    return blocked.check(address, 'ipv6');
  }
  return true; // not an address at all: refuse
};

const refused = (host: string) =>
  new AppError('OUTPUT_INVALID', `Refused to download a result from a private or local address (${host})`);

/** A DNS lookup that fails when any resolved address is private, so the check holds at connect time. */
const guardedLookup =
  (allowPrivateNetwork: boolean): LookupFunction =>
  (hostname, options, callback) => {
    dnsLookup(hostname, { ...options, all: true }, (error, addresses) => {
      if (error) {
        callback(error, '', 4);
        return;
      }
      const list = addresses as unknown as { address: string; family: number }[];
      const refuse = allowPrivateNetwork ? isMetadataAddress : isPrivateAddress;
      if (list.length === 0 || list.some((a) => refuse(a.address))) {
        callback(refused(hostname) as unknown as NodeJS.ErrnoException, '', 4);
        return;
      }
      if ((options as { all?: boolean }).all) {
        (callback as unknown as (e: null, a: typeof list) => void)(null, list);
      } else {
        callback(null, list[0]!.address, list[0]!.family);
      }
    });
  };

export interface SafeFetchOptions {
  /** Tests only: allow loopback and private targets. */
  allowPrivateNetwork: boolean;
  /** When non-empty, every hop's host must be one of these (`.example.com` also matches subdomains). */
  allowedHosts?: string[];
  maxRedirects?: number;
  signal?: AbortSignal;
}

export interface SafeResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: IncomingMessage;
  /** The URL that answered, after redirects. */
  url: URL;
}

const hostAllowed = (host: string, allowedHosts: string[] | undefined): boolean =>
  !allowedHosts ||
  allowedHosts.length === 0 ||
  allowedHosts.some((entry) => {
    const allowed = entry.toLowerCase();
    return allowed.startsWith('.') ? host.endsWith(allowed) || host === allowed.slice(1) : host === allowed;
  });

const requestOnce = (url: URL, options: SafeFetchOptions): Promise<IncomingMessage> =>
  new Promise((resolve, reject) => {
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = send(url, {
      method: 'GET',
      headers: { 'user-agent': 'dream-factory-persist/1', accept: '*/*' },
      signal: options.signal,
      lookup: guardedLookup(options.allowPrivateNetwork),
    });
    req.once('response', resolve);
    req.once('error', reject);
    req.end();
  });

/**
 * GET with the SSRF guard: only http(s); each hop's host checked against the allow-list, IP literals and
 * every resolved address checked against the private ranges (metadata ranges even with the flag); redirects followed by hand (max 5).
 * A refused target is AppError OUTPUT_INVALID; network failures are thrown as they come.
 */
export const safeGet = async (rawUrl: string, options: SafeFetchOptions): Promise<SafeResponse> => {
  let url: URL;
  try {
    url = new URL(rawUrl);
  } catch {
    throw new AppError('OUTPUT_INVALID', 'The result URL is not a valid URL');
  }
  const maxRedirects = options.maxRedirects ?? 5;
  for (let hop = 0; ; hop += 1) {
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new AppError('OUTPUT_INVALID', `Refused to download a result over ${url.protocol}`);
    }
    if (url.username || url.password)
      throw new AppError('OUTPUT_INVALID', 'Refused a result URL with credentials');
    const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
    if (!hostAllowed(host, options.allowedHosts)) {
      throw new AppError('OUTPUT_INVALID', `Refused to download a result from an unexpected host (${host})`);
    }
    if (!options.allowPrivateNetwork && (host === 'localhost' || host.endsWith('.localhost')))
      throw refused(host);
    if (
      isIP(host) !== 0 &&
      (options.allowPrivateNetwork ? isMetadataAddress(host) : isPrivateAddress(host))
    ) {
      throw refused(host);
    }

    const response = await requestOnce(url, options);
    const status = response.statusCode ?? 0;
    const location = response.headers.location;
    if (status >= 300 && status < 400 && location) {
      response.resume();
      if (hop >= maxRedirects)
        throw new AppError('OUTPUT_INVALID', 'Too many redirects while downloading a result');
      url = new URL(location, url);
      continue;
    }
    return { status, headers: response.headers, body: response, url };
  }
};
