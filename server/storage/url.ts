/** Characters encodeURIComponent leaves as they are, and the slash. */
const PATH_SAFE = /^[\w.!~*'()/-]*$/;

/** Percent-encode each segment of an object key, keeping the slashes. */
export const encodeKeyPath = (key: string): string =>
  PATH_SAFE.test(key) ? key : key.split('/').map(encodeURIComponent).join('/');

/** `attachment`, with an ASCII fallback name and an RFC 5987 UTF-8 name when one is given. */
export const contentDisposition = (download: true | string): string => {
  if (download === true) return 'attachment';
  const ascii = download.replace(/[^\x20-\x7e]/g, '_').replace(/["\\]/g, '_');
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(download)}`;
};

/**
 * Signed read URLs are made per step of time: a twelfth of the URL lifetime, at most 5 minutes. An object
 * gets the same URL for the whole step, so browsers keep it cached across listings, and a page signed
 * earlier in the step costs no HMAC. Local URLs expire a lifetime after the step's end (at least the
 * lifetime left); OSS URLs are signed at the step's start for the lifetime (`x-oss-expires` is the
 * lifetime; at least the lifetime less a step left).
 */
export const urlStepSeconds = (ttlSeconds: number): number =>
  Math.min(300, Math.max(1, Math.floor(ttlSeconds / 12)));

/** Signed URLs kept for one step; past this many the cache starts again. */
const MAX_SIGNED_URLS = 20_000;

/** The signed URLs of the current step, by what was asked for (key, thumbnail, download name). */
export class SignedUrlCache {
  private step: unknown;
  private urls = new Map<string, string>();

  /** The URL for `entry` in `step` (anything compared with ===), signed by `sign` the first time. */
  get(step: unknown, entry: string, sign: () => string): string {
    if (step !== this.step || this.urls.size >= MAX_SIGNED_URLS) {
      this.urls = new Map();
      this.step = step;
    }
    let url = this.urls.get(entry);
    if (url === undefined) {
      url = sign();
      this.urls.set(entry, url);
    }
    return url;
  }
}
