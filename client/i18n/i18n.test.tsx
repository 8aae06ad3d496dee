import { act, cleanup, render, screen } from '@testing-library/react';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { en } from './en.ts';
import { detectLocale, I18nProvider, LOCALE_STORAGE_KEY, loadLocale, translate, useI18n } from './index.tsx';
import { zhCN } from './zh-CN.ts';

function Probe() {
  const { t, setLocale } = useI18n();
  return (
    <button type="button" onClick={() => setLocale('zh-CN')}>
      {t('create.generate', { n: 4 })}
    </button>
  );
}

describe('i18n', () => {
  beforeAll(() => Promise.all([loadLocale('en'), loadLocale('zh-CN')]));
  afterEach(() => {
    cleanup();
    localStorage.clear();
  });

  it('has the same keys in both languages, with the same placeholders', () => {
    expect(Object.keys(zhCN).sort()).toEqual(Object.keys(en).sort());
    for (const key of Object.keys(en) as (keyof typeof en)[]) {
      const vars = (s: string) => [...s.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
      expect(vars(zhCN[key]), key).toEqual(vars(en[key]));
    }
  });

  it('prefers the saved choice, then the browser language', () => {
    expect(detectLocale('en', ['zh-CN'])).toBe('en');
    expect(detectLocale(null, ['zh-TW', 'en'])).toBe('zh-CN');
    expect(detectLocale(null, ['fr-FR', 'en-GB'])).toBe('en');
    expect(detectLocale(null, ['fr-FR'])).toBe('en');
  });

  it('fills placeholders', () => {
    expect(translate('en', 'create.generate', { n: 12 })).toBe('Generate · 12 credits');
    expect(translate('zh-CN', 'create.generate', { n: 12 })).toBe('生成 · 12 积分');
  });

  it('switches language live and remembers it', async () => {
    render(
      <I18nProvider initial="en">
        <Probe />
      </I18nProvider>,
    );
    const button = screen.getByRole('button');
    expect(button.textContent).toBe('Generate · 4 credits');
    await act(async () => button.click());
    expect(button.textContent).toBe('生成 · 4 积分');
    expect(localStorage.getItem(LOCALE_STORAGE_KEY)).toBe('zh-CN');
    expect(document.documentElement.lang).toBe('zh-CN');
  });
});
