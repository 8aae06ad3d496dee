import type { NextFunction, Request, RequestHandler, Response } from 'express';
import helmet from 'helmet';
import { AppError, serverIssues } from '../../shared/errors.ts';
import { readCookie, SESSION_COOKIE } from '../context.ts';
import type { Env } from '../env.ts';
import { bucketOrigin } from '../storage/oss.ts';

type OssConfig = Pick<
  Env,
  'OSS_BUCKET' | 'OSS_REGION' | 'OSS_ENDPOINT' | 'OSS_CNAME' | 'OSS_PUBLIC_BASE_URL'
>;

const originOf = (url: string | undefined): string | null => {
  if (!url) return null;
  try {
    return new URL(url.includes('://') ? url : `https://${url}`).origin;
  } catch {
    return null;
  }
};

/**
 * Where the browser may load images and videos from besides this server: the public base (CDN or
 * public-read bucket) and the bucket's own host, which signed and download URLs use.
 */
export function mediaOrigins(config: OssConfig): string[] {
  if (!config.OSS_BUCKET) return [];
  const origins = new Set<string>();
  const publicBase = originOf(config.OSS_PUBLIC_BASE_URL);
  if (publicBase) origins.add(publicBase);
  // The bucket's own host (signed and download URLs), as the storage builds it; V4 requires the region.
  if (config.OSS_ENDPOINT || config.OSS_REGION) {
    origins.add(
      bucketOrigin({
        bucket: config.OSS_BUCKET,
        region: config.OSS_REGION ?? '',
        endpoint: config.OSS_ENDPOINT,
        cname: config.OSS_CNAME,
      }),
    );
  }
  return [...origins];
}

/**
 * Security headers on every response. The CSP fits the built SPA: module scripts and stylesheets from
 * this origin only (the build has no inline script; React sets styles through the DOM, which CSP allows),
 * media from here, data:/blob: (icon, previews) and the OSS hosts; never framed.
 */
export function securityHeaders(config: Env): RequestHandler[] {
  const media = ["'self'", 'data:', 'blob:', ...mediaOrigins(config)];
  return [
    helmet({
      contentSecurityPolicy: {
        useDefaults: false,
        directives: {
          'default-src': ["'self'"],
          'script-src': ["'self'"],
          'style-src': ["'self'"],
          'img-src': media,
          'media-src': media,
          'font-src': ["'self'", 'data:'],
          'connect-src': ["'self'"],
          'object-src': ["'none'"],
          'base-uri': ["'self'"],
          'form-action': ["'self'"],
          'frame-ancestors': ["'none'"],
        },
      },
      referrerPolicy: { policy: 'strict-origin-when-cross-origin' },
      // Media may be on another origin (OSS); the default same-origin resource policy is for our files only.
      crossOriginResourcePolicy: { policy: 'same-origin' },
      crossOriginEmbedderPolicy: false,
      // Sent only over https (below): over plain http it means nothing, and on localhost it would stick.
      strictTransportSecurity: false,
    }),
    (req, res, next) => {
      if (req.secure) res.setHeader('Strict-Transport-Security', 'max-age=31536000; includeSubDomains');
      next();
    },
  ];
}

/** A tRPC-shaped error answered before tRPC, so clients read it like any other (data.appCode, data.reason). */
function refuse(res: Response, status: number, appCode: string, reason: string, message: string) {
  res.status(status).json({
    error: {
      json: {
        message,
        code: status === 415 ? -32600 : -32003,
        data: {
          code: status === 415 ? 'UNSUPPORTED_MEDIA_TYPE' : 'FORBIDDEN',
          httpStatus: status,
          appCode,
          reason,
          ...(appCode === 'VALIDATION'
            ? { zodIssues: serverIssues(new AppError('VALIDATION', message)) }
            : {}),
        },
      },
    },
  });
}

/**
 * Guards in front of /trpc:
 * - a body must be JSON: a plain HTML form can send multipart/form-data or text/plain to any site, and
 *   tRPC would run it (cross-site sign-out); those are refused with 415 and never executed;
 * - a mutation sent with the session cookie and an `Origin` that is neither PUBLIC_URL nor this request's
 *   own host is refused with 403. Requests without Origin (curl, scripts) and Bearer-token requests
 *   carry no ambient credential and pass.
 */
export function trpcGuards(config: Env): RequestHandler {
  const publicOrigin = originOf(config.PUBLIC_URL);
  return (req: Request, res: Response, next: NextFunction) => {
    if (req.method === 'GET' || req.method === 'HEAD' || req.method === 'OPTIONS') {
      next();
      return;
    }
    const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
    if (type !== 'application/json') {
      refuse(res, 415, 'VALIDATION', 'JSON_ONLY', 'Send the request body as application/json');
      return;
    }
    const origin = req.headers.origin;
    const bearer = /^Bearer\s+\S+$/i.test(req.headers.authorization ?? '');
    const cookie = readCookie(req.headers.cookie, SESSION_COOKIE) !== null;
    if (origin !== undefined && cookie && !bearer && !sameOrigin(origin, req, publicOrigin)) {
      refuse(res, 403, 'FORBIDDEN', 'ORIGIN_REFUSED', 'This request comes from another site; refused');
      return;
    }
    next();
  };
}

function sameOrigin(origin: string, req: Request, publicOrigin: string | null): boolean {
  if (publicOrigin && origin === publicOrigin) return true;
  try {
    return new URL(origin).host === req.headers.host;
  } catch {
    // `Origin: null` (sandboxed frames, file: pages) and garbage.
    return false;
  }
}
