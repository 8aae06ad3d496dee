import { act, cleanup, fireEvent, render, screen } from '@testing-library/react';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { I18nProvider, loadLocale } from '../i18n/index.tsx';
import { CopyButton } from './copy-button.tsx';

describe('CopyButton', () => {
  beforeAll(() => loadLocale('zh-CN'));
  afterEach(cleanup);

  it('copies the text and says so to a screen reader, in the page language', async () => {
    const copied: string[] = [];
    Object.defineProperty(navigator, 'clipboard', {
      configurable: true,
      value: { writeText: async (text: string) => void copied.push(text) },
    });
    render(
      <I18nProvider initial="zh-CN">
        <CopyButton text="df_secret" />
      </I18nProvider>,
    );
    const status = screen.getByRole('status');
    expect(status.textContent).toBe('');
    await act(async () => {
      fireEvent.click(screen.getByRole('button'));
    });
    expect(copied).toEqual(['df_secret']);
    expect(status.textContent).toBe(screen.getByRole('button').textContent);
    expect(status.textContent).not.toBe('');
  });
});
