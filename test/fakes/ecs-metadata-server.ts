import { randomBytes } from 'node:crypto';
import { listen, sendJson } from './http-util.ts';

/**
 * A fake ECS instance metadata service (100.100.100.200) for the instance RAM role, in token (hardened)
 * mode: `PUT /latest/api/token` with `X-aliyun-ecs-metadata-token-ttl-seconds` gives a token, and
 * `GET /latest/meta-data/ram/security-credentials/<role>` with `X-aliyun-ecs-metadata-token` answers
 * `{ Code, AccessKeyId, AccessKeySecret, Expiration, SecurityToken, LastUpdated }` as ECS does. Each fetch
 * issues a new STS key set (STS.fake-N, token-N); `onIssue` lets a test register it with the OSS server.
 */

export interface IssuedCredentials {
  accessKeyId: string;
  accessKeySecret: string;
  securityToken: string;
  expiration: Date;
}

export interface EcsMetadataServerOptions {
  role: string;
  /** Lifetime of each issued set. Default 6 hours (ECS hands out ~6 h tokens). */
  lifetimeSeconds?: number;
  onIssue?: (credentials: IssuedCredentials) => void;
  /** The clock Expiration is computed from (tests that move time share theirs). */
  now?: () => number;
}

export interface EcsMetadataServer {
  /** Base URL, the stand-in for `http://100.100.100.200`. */
  readonly url: string;
  /** Every set handed out, oldest first. */
  readonly issued: IssuedCredentials[];
  /** Credential requests seen (token requests not counted). */
  readonly credentialRequests: number;
  /** Answer credential requests with this status (500, 404...) until set back to undefined. */
  failWith: number | undefined;
  /** Wait this long before answering a credential request. */
  delayMs: number;
  close(): Promise<void>;
}

const isoSeconds = (date: Date) => date.toISOString().replace(/\.\d{3}Z$/, 'Z');

export const startEcsMetadataServer = async (
  options: EcsMetadataServerOptions,
): Promise<EcsMetadataServer> => {
  const issued: IssuedCredentials[] = [];
  const tokens = new Map<string, number>();
  let credentialRequests = 0;
  const state = { failWith: undefined as number | undefined, delayMs: 0 };
  const prefix = '/latest/meta-data/ram/security-credentials/';

  const server = await listen(async (req, res) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    if (path === '/latest/api/token' && req.method === 'PUT') {
      const ttl = Number(req.headers['x-aliyun-ecs-metadata-token-ttl-seconds']);
      if (!Number.isInteger(ttl) || ttl < 1 || ttl > 21_600) {
        res.writeHead(400).end();
        return;
      }
      const token = randomBytes(16).toString('hex');
      tokens.set(token, Date.now() + ttl * 1000);
      res.writeHead(200, { 'content-type': 'text/plain' }).end(token);
      return;
    }
    if (!path.startsWith(prefix) || req.method !== 'GET') {
      res.writeHead(404).end();
      return;
    }
    // Hardened mode: no valid token, no metadata.
    const token = req.headers['x-aliyun-ecs-metadata-token'];
    const validUntil = typeof token === 'string' ? tokens.get(token) : undefined;
    if (validUntil === undefined || validUntil < Date.now()) {
      res.writeHead(401).end();
      return;
    }
    const role = decodeURIComponent(path.slice(prefix.length));
    if (role === '') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end(options.role);
      return;
    }
    credentialRequests += 1;
    if (state.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, state.delayMs));
    if (state.failWith !== undefined) {
      res.writeHead(state.failWith).end();
      return;
    }
    if (role !== options.role) {
      res.writeHead(404).end();
      return;
    }
    const n = issued.length + 1;
    const now = new Date(options.now?.() ?? Date.now());
    const credentials: IssuedCredentials = {
      accessKeyId: `STS.fake-${n}`,
      accessKeySecret: `fake-sts-secret-${n}-${randomBytes(4).toString('hex')}`,
      securityToken: `fake-token-${n}-${randomBytes(8).toString('hex')}`,
      expiration: new Date(
        Math.floor(now.getTime() / 1000) * 1000 + (options.lifetimeSeconds ?? 21_600) * 1000,
      ),
    };
    issued.push(credentials);
    options.onIssue?.(credentials);
    sendJson(res, 200, {
      AccessKeyId: credentials.accessKeyId,
      AccessKeySecret: credentials.accessKeySecret,
      Expiration: isoSeconds(credentials.expiration),
      SecurityToken: credentials.securityToken,
      LastUpdated: isoSeconds(now),
      Code: 'Success',
    });
  });

  return {
    url: server.url,
    issued,
    get credentialRequests() {
      return credentialRequests;
    },
    get failWith() {
      return state.failWith;
    },
    set failWith(value) {
      state.failWith = value;
    },
    get delayMs() {
      return state.delayMs;
    },
    set delayMs(value) {
      state.delayMs = value;
    },
    close: () => server.close(),
  };
};
