import type { Locale } from '../i18n/index.tsx';

export const formatDateTime = (date: Date, locale: Locale) =>
  new Intl.DateTimeFormat(locale, { dateStyle: 'medium', timeStyle: 'short' }).format(date);

export const formatDate = (date: Date, locale: Locale) =>
  new Intl.DateTimeFormat(locale, { dateStyle: 'medium' }).format(date);

export const formatNumber = (n: number, locale: Locale) => new Intl.NumberFormat(locale).format(n);

export const formatBytes = (bytes: number) => {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
};

/** Signed amounts read better with an explicit plus. */
export const formatSigned = (n: number, locale: Locale) => (n > 0 ? '+' : '') + formatNumber(n, locale);

/** A local calendar day, "YYYY-MM-DD", for grouping. */
export const dayKey = (date: Date) => {
  const y = date.getFullYear();
  const m = String(date.getMonth() + 1).padStart(2, '0');
  const d = String(date.getDate()).padStart(2, '0');
  return `${y}-${m}-${d}`;
};

/** Credits spent per day over the last `days` days (oldest first), net of refunds, never below zero. */
export function spentPerDay(
  rows: readonly { amount: number; kind: string; createdAt: Date }[],
  days: number,
  now = new Date(),
): { day: string; spent: number }[] {
  const totals = new Map<string, number>();
  for (const row of rows) {
    if (row.kind !== 'charge' && row.kind !== 'refund') continue;
    const key = dayKey(row.createdAt);
    totals.set(key, (totals.get(key) ?? 0) - row.amount);
  }
  const out: { day: string; spent: number }[] = [];
  for (let i = days - 1; i >= 0; i--) {
    const date = new Date(now.getFullYear(), now.getMonth(), now.getDate() - i);
    const key = dayKey(date);
    out.push({ day: key, spent: Math.max(0, totals.get(key) ?? 0) });
  }
  return out;
}

/** A random idempotency key for one press of Generate. */
export const newIdempotencyKey = () =>
  typeof crypto !== 'undefined' && 'randomUUID' in crypto
    ? crypto.randomUUID()
    : `k-${Date.now()}-${Math.random().toString(36).slice(2)}`;
