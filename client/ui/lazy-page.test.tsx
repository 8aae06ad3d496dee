import { act, cleanup, render, screen } from '@testing-library/react';
import { Suspense } from 'react';
import { afterEach, describe, expect, it } from 'vitest';
import { I18nProvider, loadLocale, useI18n } from '../i18n/index.tsx';
import { lazyPage } from './lazy-page.ts';

describe('lazyPage', () => {
  afterEach(cleanup);

  it('renders a page only once its dictionary part is there, and switches it to another language', async () => {
    await loadLocale('zh-CN');
    const shown: string[] = [];
    let switchTo: ((locale: 'en') => void) | undefined;
    function TokensTitle() {
      const { t, setLocale } = useI18n();
      switchTo = setLocale;
      shown.push(t('tokens.title'));
      return <h1>{t('tokens.title')}</h1>;
    }
    const Page = lazyPage(async () => TokensTitle, ['tokens']);
    render(
      <I18nProvider initial="zh-CN">
        <Suspense fallback={<p>…</p>}>
          <Page />
        </Suspense>
      </I18nProvider>,
    );
    expect((await screen.findByRole('heading')).textContent).toBe('API 令牌');
    await act(async () => switchTo?.('en'));
    expect(await screen.findByText('API tokens')).toBeTruthy();
    expect(shown).not.toContain('tokens.title');
  });
});
