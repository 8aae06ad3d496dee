// On a 390 px phone, in English and Chinese: the wide tables (API tokens, Admin users, code batches, jobs, audit
// log) are card lists with every column and action in sight, nothing scrolling sideways; the 404 page of a
// signed-in user is inside the app shell (header, nav, language), a page of its own when signed out.
import fs from 'node:fs';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ADMIN_EMAIL,
  apiMutate,
  apiQuery,
  axeSerious,
  browserAvailable,
  DESKTOP,
  latinSentences,
  openSession,
  PHONE_390,
  type RunningServer,
  SCREENSHOTS,
  setLocale,
  signUpInUi,
} from './harness.ts';

const T = { timeout: 30_000 };
const LOCALES = ['en', 'zh-CN'] as const;
/** What the test typed, which the Chinese UI shows as it is. */
const TYPED = ['phone-script'];

let server: RunningServer;
let browser: Browser;
let page: Page;

const screenshot = async (name: string) => {
  fs.mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: true });
};

/**
 * The tables that turn into cards (test ids of the table and of its cards) and the columns a card shows as its
 * title or badge rather than as a labelled field, besides the first.
 */
const TABLES = [
  { name: 'tokens', path: '/tokens', table: 'tokens-table', cards: 'tokens-cards', headed: [] },
  { name: 'users', path: '/admin/users', table: 'admin-users', cards: 'admin-users-cards', headed: ['role'] },
  { name: 'codes', path: '/admin/codes', table: 'batches', cards: 'batches-cards', headed: [] },
  {
    name: 'jobs',
    path: '/admin/jobs',
    table: 'admin-jobs',
    cards: 'admin-jobs-cards',
    headed: ['status', 'model'],
  },
  { name: 'audit', path: '/admin/audit', table: 'audit-table', cards: 'audit-cards', headed: ['action'] },
] as const;
const HEADERS = {
  en: { role: 'Role', status: 'Status', model: 'Model', action: 'Action' },
  'zh-CN': { role: '角色', status: '状态', model: '模型', action: '操作' },
} as const;

let close: () => Promise<void>;

beforeAll(async () => {
  ({ server, browser, page, close } = await openSession(PHONE_390));
});

afterAll(() => close?.());

describe.skipIf(!browserAvailable)('a phone', () => {
  it('shows the wide tables as cards, every column and action in sight, in both languages', async () => {
    // A second user, two tokens (one revoked), a code batch and a failed job: every kind of row and action.
    const other = await browser.newContext({ viewport: PHONE_390, locale: 'en-US' });
    await signUpInUi(await other.newPage(), server.url, 'phone-user@example.com');
    await other.close();
    await signUpInUi(page, server.url, ADMIN_EMAIL);
    await apiMutate(page, server.url, 'apiTokens.create', { name: 'phone-script' });
    const gone = await apiMutate<{ id: string }>(page, server.url, 'apiTokens.create', { name: '旧令牌' });
    await apiMutate(page, server.url, 'apiTokens.revoke', { id: gone.id });
    await apiMutate(page, server.url, 'admin.codes.create', { credits: 5, count: 2, note: '春节活动' });
    await apiMutate(page, server.url, 'ai.generateImage', { prompt: '会失败的灯笼 [demo:fail]' }).catch(
      () => {},
    );
    await expect
      .poll(async () => {
        const jobs = await apiQuery<{ items: { status: string }[] }>(page, server.url, 'admin.jobs.list', {
          limit: 10,
        });
        return jobs.items.map((job) => job.status);
      }, T)
      .toContain('failed');

    for (const locale of LOCALES) {
      await setLocale(page, locale);
      for (const table of TABLES) {
        await page.goto(`${server.url}${table.path}`);
        const cards = page.getByTestId(table.cards);
        await cards.locator('li').first().waitFor(T);
        if (table.name === 'jobs') await cards.locator('.badge-failed').waitFor(T);
        expect(await page.getByTestId(table.table).isVisible(), table.name).toBe(false);

        const layout = await page.evaluate(
          ([tableId, cardsId]) => {
            const inSight = (el: Element) => {
              const r = el.getBoundingClientRect();
              return r.width > 0 && r.left >= 0 && r.right <= window.innerWidth;
            };
            const list = document.querySelector(`[data-testid=${cardsId}]`) as HTMLElement;
            const items = [...list.querySelectorAll(':scope > li')];
            // Every column of the (hidden) table is a labelled field of some card, or a card's title or badge.
            const headers = [...document.querySelectorAll(`[data-testid=${tableId}] th`)]
              .filter((th) => !th.querySelector('.sr-only'))
              .map((th) => th.textContent ?? '');
            const labels = new Set(
              items.flatMap((li) => [...li.querySelectorAll('dt')].map((dt) => dt.textContent)),
            );
            return {
              pageScrollsSideways: document.documentElement.scrollWidth > window.innerWidth,
              listScrollsSideways: list.scrollWidth > list.clientWidth,
              cardsOutOfSight: items.filter((li) => !inSight(li) || li.scrollWidth > li.clientWidth).length,
              actions: items.flatMap((li) => [...li.querySelectorAll('button, .badge')]).length,
              actionsOutOfSight: items
                .flatMap((li) => [...li.querySelectorAll('button, .badge')])
                .filter((el) => !inSight(el))
                .map((el) => el.textContent),
              columnsNotShown: headers.filter((h, i) => i > 0 && !labels.has(h)),
            };
          },
          [table.table, table.cards] as const,
        );
        // Buttons and badges: Revoke or Revoked, Grant and the role, Disable, the job's status.
        if (table.name !== 'audit') expect(layout.actions, `${table.name} ${locale}`).toBeGreaterThan(0);
        expect({ ...layout, actions: 0 }, `${table.name} ${locale}`).toEqual({
          pageScrollsSideways: false,
          listScrollsSideways: false,
          cardsOutOfSight: 0,
          actions: 0,
          actionsOutOfSight: [],
          columnsNotShown: table.headed.map((column) => HEADERS[locale][column]),
        });
        expect(await axeSerious(page), `${table.name} ${locale}`).toEqual([]);
        if (locale === 'zh-CN') expect(await latinSentences(page, TYPED), table.name).toEqual([]);
        await screenshot(`phone-cards-${table.name}-${locale === 'en' ? 'en' : 'zh'}`);
      }
    }

    // The card's own buttons do what the table's do, from the keyboard too.
    await setLocale(page, 'en');
    await page.goto(`${server.url}/tokens`);
    const revoke = page.getByTestId('token-card').getByRole('button', { name: 'Revoke “phone-script”' });
    await revoke.waitFor(T);
    let reached = false;
    for (let i = 0; i < 40 && !reached; i++) {
      await page.keyboard.press('Tab');
      reached = await revoke.evaluate((button) => button === document.activeElement);
    }
    expect(reached).toBe(true);
    await page.keyboard.press('Enter');
    const dialog = page.locator('dialog.dialog[open]');
    await dialog.getByText('Revoke “phone-script”? Apps using it stop working at once.').waitFor(T);
    await dialog.getByRole('button', { name: 'Cancel' }).click();

    await page.goto(`${server.url}/admin/users`);
    await page
      .getByTestId('user-card')
      .getByRole('button', { name: 'Grant credits to phone-user@example.com' })
      .click();
    const grant = page.locator('form[aria-labelledby=grant-title]');
    expect(await grant.locator('input[type=email]').inputValue()).toBe('phone-user@example.com');
    await expect
      .poll(() => page.evaluate(() => (document.activeElement as HTMLInputElement).type))
      .toBe('number');

    // Wide screens keep the table.
    await page.setViewportSize(DESKTOP);
    expect(await page.getByTestId('admin-users').isVisible()).toBe(true);
    expect(await page.getByTestId('admin-users-cards').isVisible()).toBe(false);
    await page.setViewportSize(PHONE_390);
  });

  it('keeps the header, nav and language switch on the 404 page when signed in', async () => {
    for (const [locale, title] of [
      ['en', 'Page not found'],
      ['zh-CN', '页面不存在'],
    ] as const) {
      await page.goto(`${server.url}/no-such-page`);
      await setLocale(page, locale);
      await page.getByRole('heading', { level: 1, name: title }).waitFor(T);
      const nav = page.locator('header nav.nav');
      expect(await nav.isVisible()).toBe(true);
      expect(await nav.getByRole('link').count()).toBeGreaterThanOrEqual(5);
      expect(await page.getByTestId('language-switch').isVisible()).toBe(true);
      expect(await page.locator('main').count()).toBe(1);
      expect(await page.title()).toContain(title);
      expect(await axeSerious(page)).toEqual([]);
      if (locale === 'zh-CN') expect(await latinSentences(page)).toEqual([]);
      await screenshot(`phone-404-${locale === 'en' ? 'en' : 'zh'}`);
    }
    // The nav works from there.
    await page.locator('header nav.nav').getByRole('link', { name: '作品库' }).click();
    await page.waitForURL(/\/gallery$/, T);
    await setLocale(page, 'en');

    const visitor = await browser.newContext({ viewport: PHONE_390, locale: 'en-US' });
    try {
      const signedOut = await visitor.newPage();
      await signedOut.goto(`${server.url}/no-such-page`);
      await signedOut.getByRole('heading', { level: 1, name: 'Page not found' }).waitFor(T);
      expect(await signedOut.locator('header, nav').count()).toBe(0);
      expect(await axeSerious(signedOut)).toEqual([]);
    } finally {
      await visitor.close();
    }
  });
});
