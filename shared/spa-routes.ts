/**
 * The SPA's pages: client/app.tsx renders one <Route> per path here (its page table is typed by these lists,
 * so a page cannot be added or removed without them), and the server answers any other path with 404.
 * Plain constants, no imports: the server and the first screen of the SPA both read this module.
 */
export const SPA_PATHS = [
  '/signin',
  '/signup',
  '/forgot-password',
  '/reset-password',
  '/verify-email',
  '/',
  '/create',
  '/gallery',
  '/credits',
  '/tokens',
  '/account',
] as const;

/** Sections whose pages route themselves below the prefix (`/admin/users`, `/admin/codes`, …). */
export const SPA_PREFIXES = ['/admin'] as const;

export type SpaPath = (typeof SPA_PATHS)[number];
export type SpaPrefix = (typeof SPA_PREFIXES)[number];

/**
 * Whether the SPA has a page at `pathname` (a URL's path, without query or hash). Matches as the client's
 * router does: percent-escapes decoded, letter case ignored, trailing slashes allowed; a prefix matches
 * itself and the paths below it.
 */
export function isSpaPath(pathname: string): boolean {
  let decoded = pathname;
  try {
    decoded = decodeURI(pathname);
  } catch {
    // A malformed escape: the router matches the path as it is.
  }
  const path = decoded.replace(/\/+$/, '').toLowerCase() || '/';
  return (
    (SPA_PATHS as readonly string[]).includes(path) ||
    SPA_PREFIXES.some((prefix) => path === prefix || path.startsWith(`${prefix}/`))
  );
}
