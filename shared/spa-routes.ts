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

/**
 * Sections that route their own pages below the prefix: the prefix alone opens the first page
 * (`/admin` → `/admin/users`), and only the pages listed here exist (`/admin/nope` is a 404).
 */
export const SPA_SECTIONS = {
  '/admin': ['users', 'codes', 'jobs', 'audit'],
} as const;

export type SpaPath = (typeof SPA_PATHS)[number];
export type SpaPrefix = keyof typeof SPA_SECTIONS;
export const SPA_PREFIXES = Object.keys(SPA_SECTIONS) as SpaPrefix[];
/** A page of a section: `users` for `/admin/users`. */
export type SpaSectionPage<P extends SpaPrefix> = (typeof SPA_SECTIONS)[P][number];

/**
 * Whether the SPA has a page at `pathname` (a URL's path, without query or hash). Matches as the client's
 * router does: percent-escapes decoded, letter case ignored, trailing slashes allowed; a section's
 * prefix matches itself and its pages.
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
    SPA_PREFIXES.some(
      (prefix) =>
        path === prefix ||
        (SPA_SECTIONS[prefix] as readonly string[]).some((page) => path === `${prefix}/${page}`),
    )
  );
}
