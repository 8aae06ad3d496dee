import { cleanup, render, screen } from '@testing-library/react';
import { TRPCClientError } from '@trpc/client';
import { MemoryRouter } from 'react-router';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { I18nProvider, loadLocale } from '../i18n/index.tsx';
import { ErrorNotice } from './error-notice.tsx';

const appError = (appCode: string, reason?: string) =>
  new TRPCClientError('server message', {
    result: { error: { message: 'server message', code: -32000, data: { appCode, reason } } } as never,
  });

const renderNotice = (error: unknown, locale: 'en' | 'zh-CN' = 'en') =>
  render(
    <I18nProvider initial={locale}>
      <MemoryRouter>
        <ErrorNotice error={error} />
      </MemoryRouter>
    </I18nProvider>,
  );

describe('ErrorNotice', () => {
  beforeAll(() => Promise.all([loadLocale('en'), loadLocale('zh-CN')]));
  afterEach(cleanup);
  it('explains missing credits and links to the redeem form', () => {
    renderNotice(appError('INSUFFICIENT_CREDITS'));
    expect(screen.getByRole('alert').textContent).toContain('enough credits');
    expect(screen.getByRole('link').getAttribute('href')).toBe('/credits#redeem');
  });

  it('asks for an edited prompt when content is rejected, in Chinese too', () => {
    renderNotice(appError('CONTENT_REJECTED'), 'zh-CN');
    expect(screen.getByRole('alert').textContent).toContain('请修改提示词');
    expect(screen.queryByRole('link')).toBeNull();
  });

  it('says a disabled code is disabled, not that it does not exist', () => {
    renderNotice(appError('CODE_INVALID', 'CODE_DISABLED'), 'zh-CN');
    expect(screen.getByRole('alert').textContent).toBe('该兑换码已停用。');
  });
});
