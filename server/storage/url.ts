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
