import { beforeAll, describe, expect, it } from 'vitest';
import { loadLocale, loadMessages, type MessageKey, translate } from '../../i18n/index.tsx';
import { spendSummary } from './spend-summary.ts';

const en = (key: MessageKey, vars?: Record<string, string | number>) => translate('en', key, vars);
const zh = (key: MessageKey, vars?: Record<string, string | number>) => translate('zh-CN', key, vars);
const days = (spent: number[]) =>
  spent.map((n, i) => ({ day: `2026-11-${String(i + 1).padStart(2, '0')}`, spent: n }));

describe('spendSummary', () => {
  beforeAll(async () => {
    await Promise.all([loadLocale('en'), loadLocale('zh-CN')]);
    await loadMessages('credits');
  });

  it('says the total and the day spent most, in both languages', () => {
    const spent: Record<number, number> = { 2: 5, 3: 12, 5: 12, 28: 13 };
    const month = days(Array.from({ length: 30 }, (_, i) => spent[i + 1] ?? 0));
    expect(spendSummary(month, en, 'en')).toBe(
      'Daily spending, last 30 days: 42 credits in total; most on Nov 28, 2026 (13).',
    );
    expect(spendSummary(month, zh, 'zh-CN')).toBe(
      '近 30 天每日消耗：共 42 积分；最多的一天是 2026年11月28日（13）。',
    );
  });

  it('names the earliest of equal days, and says when nothing was spent', () => {
    expect(spendSummary(days([0, 7, 7]), en, 'en')).toContain('most on Nov 2, 2026 (7)');
    expect(spendSummary(days([0, 0, 0]), en, 'en')).toBe('No spending in the last 30 days.');
  });
});
