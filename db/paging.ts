/** Cursor pages: fetch `limit + 1` rows, newest first; the extra row says whether there is a next page. */
export function toPage<T, C>(
  rows: T[],
  limit: number,
  cursorOf: (row: T) => C,
): { items: T[]; nextCursor: C | null } {
  const items = rows.slice(0, limit);
  const last = items.at(-1);
  return { items, nextCursor: rows.length > limit && last !== undefined ? cursorOf(last) : null };
}
