import type { Locale, Translate } from '../../i18n/index.tsx';
import { formatDate, formatNumber } from '../../lib/format.ts';

/**
 * The spending chart in words, its text alternative: the total over the days and the day with the most (the
 * earliest of equals). `days` as spentPerDay gives them, "YYYY-MM-DD" oldest first.
 */
export function spendSummary(
  days: readonly { day: string; spent: number }[],
  t: Translate,
  locale: Locale,
): string {
  const total = days.reduce((sum, d) => sum + d.spent, 0);
  const top = days.reduce<{ day: string; spent: number } | undefined>(
    (best, d) => (d.spent > (best?.spent ?? 0) ? d : best),
    undefined,
  );
  if (!top) return t('credits.chartEmpty');
  return t('credits.chartSummary', {
    days: days.length,
    total: formatNumber(total, locale),
    date: formatDate(new Date(`${top.day}T12:00:00`), locale),
    n: formatNumber(top.spent, locale),
  });
}
