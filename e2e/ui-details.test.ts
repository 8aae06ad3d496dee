// Details an outside audit found, in Chromium at a 390 px phone width and at desktop width, in both languages:
// forms validated by the server in the page's language (never the browser's English bubbles), long fields
// whole on a phone and a date and time whole on a desktop, image sizes whole on a phone, a two-row header,
// confirmation before disabling a code, the skip link, Home/End on the Create tabs, durations in order, a
// missing first frame said at once, each language named in its language.
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ADMIN_EMAIL,
  apiMutate,
  axeSerious,
  browserAvailable,
  DESKTOP,
  latinSentences,
  openSession,
  PHONE_390,
  type RunningServer,
  setLocale,
  signUpInUi,
} from './harness.ts';

const T = { timeout: 30_000 };

let server: RunningServer;
let page: Page;

let close: () => Promise<void>;

beforeAll(async () => {
  ({ server, page, close } = await openSession(PHONE_390));
});

afterAll(() => close?.());

describe.skipIf(!browserAvailable)('details of the UI', () => {
  it('keeps the English header to two rows on a phone, with the current page’s link in sight', async () => {
    await signUpInUi(page, server.url, ADMIN_EMAIL);
    for (const path of ['/create', '/admin/codes']) {
      await page.goto(`${server.url}${path}`);
      await page.locator('.nav .active').waitFor(T);
      const header = await page.evaluate(() => {
        const nav = document.querySelector('.nav') as HTMLElement;
        const tools = document.querySelector('.header-tools') as HTMLElement;
        const links = [...nav.querySelectorAll('a')].map((a) => a.getBoundingClientRect());
        const active = (nav.querySelector('.active') as HTMLElement).getBoundingClientRect();
        const box = nav.getBoundingClientRect();
        return {
          linkRows: new Set(links.map((r) => Math.round(r.top))).size,
          navBelowTools: box.top >= tools.getBoundingClientRect().bottom,
          activeInSight: active.left >= box.left - 1 && active.right <= box.right + 1,
        };
      });
      expect(header, path).toEqual({ linkRows: 1, navBelowTools: true, activeInSight: true });
    }
  });

  it('answers an address below /admin that is none of its pages with the page-not-found text', async () => {
    await page.goto(`${server.url}/admin/nope`);
    await page.getByRole('heading', { level: 1, name: 'Page not found' }).waitFor(T);
    expect(await page.locator('h1').count()).toBe(1);
    expect(await page.locator('header nav.nav').isVisible()).toBe(true);
    expect(await page.title()).toContain('Page not found');
    // The section's own pages still open, in any letter case.
    await page.goto(`${server.url}/admin/Codes`);
    await page.locator('form[aria-labelledby=batch-title]').waitFor(T);
  });

  it('validates the admin forms on the server and says what is wrong in Chinese, next to the fields', async () => {
    await setLocale(page, 'zh-CN');
    await page.goto(`${server.url}/admin/users`);
    const grant = page.locator('form[aria-labelledby=grant-title]');
    await grant.locator('input[type=email]').fill('not-an-email');
    await grant.locator('input[type=number]').fill('0');
    await grant.locator('button[type=submit]').click();
    await grant.locator('.field-error').first().waitFor(T);
    expect(await grant.locator('.field-error').allInnerTexts()).toEqual([
      '请输入有效的邮箱地址。',
      '数量必须大于 0。',
    ]);
    expect(await grant.locator('input[type=email]').getAttribute('aria-invalid')).toBe('true');
    expect(await latinSentences(page, ['not-an-email'])).toEqual([]);

    await page.goto(`${server.url}/admin/codes`);
    const batch = page.locator('form[aria-labelledby=batch-title]');
    await batch.getByLabel('生成数量').fill('0');
    await batch.getByLabel('每个码可用次数').fill('0');
    await batch.locator('button[type=submit]').click();
    await batch.locator('.field-error').first().waitFor(T);
    expect(await batch.locator('.field-error').allInnerTexts()).toEqual([
      '兑换码数量不能小于 1。',
      '每个码可用次数不能小于 1。',
    ]);
    expect(await latinSentences(page)).toEqual([]);
  });

  it('gives a date and time and a whole code a row of their own on a phone', async () => {
    await page.goto(`${server.url}/admin/codes`);
    await page.locator('input[type=datetime-local]').waitFor(T);
    const widths = await page.evaluate(() => {
      const width = (selector: string) =>
        document.querySelector(selector)?.getBoundingClientRect().width ?? 0;
      return {
        row: width('form[aria-labelledby=batch-title] .inline-form'),
        expiry: width('input[type=datetime-local]'),
        code: width('form[aria-labelledby=disable-one-title] input'),
      };
    });
    expect(widths.expiry).toBeCloseTo(widths.row, 0);
    expect(widths.code).toBeCloseTo(widths.row, 0);

    await page.goto(`${server.url}/credits`);
    await page.locator('#redeem-code').waitFor(T);
    const redeem = await page.evaluate(() => ({
      row: document.querySelector('.redeem-form')?.getBoundingClientRect().width ?? 0,
      input: document.querySelector('#redeem-code')?.getBoundingClientRect().width ?? 0,
    }));
    expect(redeem.input).toBeCloseTo(redeem.row, 0);
    await setLocale(page, 'en');
  });

  it('gives a date and time two columns on a desktop, so none of it is cut off, as tall as its neighbours, the batch on one row', async () => {
    await page.setViewportSize(DESKTOP);
    await page.goto(`${server.url}/admin/codes`);
    await page.locator('input[type=datetime-local]').waitFor(T);
    const { cells, heights } = await page.evaluate(() => {
      const form = document.querySelector('form[aria-labelledby=batch-title]')!;
      return {
        cells: [...form.querySelectorAll('.inline-form > *')].map((cell) => {
          const box = cell.getBoundingClientRect();
          return {
            wide: cell.classList.contains('field-wide'),
            width: box.width,
            bottom: Math.round(box.bottom),
          };
        }),
        heights: [...form.querySelectorAll('input')].map((input) =>
          Math.round(input.getBoundingClientRect().height),
        ),
      };
    });
    const wide = cells.filter((c) => c.wide);
    const narrow = cells.filter((c) => !c.wide);
    expect(wide).toHaveLength(1);
    expect(wide[0]!.width).toBeGreaterThan(1.9 * narrow[0]!.width);
    expect(new Set(cells.map((c) => c.bottom)).size).toBe(1);
    // As tall as the fields beside it (Chromium's own padding made it 2 px taller).
    expect(new Set(heights).size).toBe(1);
  });

  it('asks before disabling one code, as before disabling a batch', async () => {
    await page.setViewportSize(DESKTOP);
    const { codes } = await apiMutate<{ codes: string[] }>(page, server.url, 'admin.codes.create', {
      credits: 5,
      count: 1,
      note: 'one to disable',
    });
    await page.goto(`${server.url}/admin/codes`);
    const form = page.locator('form[aria-labelledby=disable-one-title]');
    await form.getByLabel('Code (as the user has it)').fill(codes[0]!);
    await form.getByRole('button', { name: 'Disable' }).click();
    const dialog = page.locator('dialog.dialog[open]');
    await dialog.getByText(`Disable the code ${codes[0]}?`).waitFor(T);
    // Cancel has the focus first, so a stray Enter does nothing.
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe('Cancel');
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await dialog.waitFor({ state: 'detached', ...T });
    const batchRow = page.getByRole('row', { name: /one to disable/ });
    expect(await batchRow.getByRole('button', { name: 'Disable' }).count()).toBe(1);

    await form.getByRole('button', { name: 'Disable' }).click();
    await dialog.getByRole('button', { name: 'Disable' }).click();
    await form.getByText('Disabled. It can no longer be redeemed.').waitFor(T);
    await batchRow.getByText('Disabled').waitFor(T);
  });

  it('moves focus to the main landmark from the skip link, without a ring around the page', async () => {
    await page.goto(`${server.url}/gallery`);
    await page.locator('main h1').waitFor(T);
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement?.className)).toBe('skip-link');
    await page.keyboard.press('Enter');
    await expect.poll(() => page.evaluate(() => document.activeElement?.tagName)).toBe('MAIN');
    expect(await page.evaluate(() => getComputedStyle(document.activeElement as Element).outlineStyle)).toBe(
      'none',
    );
  });

  it('moves between the Create tabs with arrows, Home and End, and lists durations in order', async () => {
    await page.goto(`${server.url}/create`);
    const tab = (name: string) => page.getByRole('tab', { name });
    await tab('Image').focus();
    const state = () =>
      page.evaluate(() => ({
        focused: document.activeElement?.id,
        selected: document.querySelector('[role=tab][aria-selected=true]')?.id,
      }));
    // The tab is in the URL: the selection follows once the navigation renders.
    await page.keyboard.press('End');
    await expect.poll(state).toEqual({ focused: 'tab-video', selected: 'tab-video' });
    await page.keyboard.press('Home');
    await expect.poll(state).toEqual({ focused: 'tab-image', selected: 'tab-image' });
    await page.keyboard.press('ArrowLeft');
    await expect.poll(state).toEqual({ focused: 'tab-video', selected: 'tab-video' });

    const duration = page.getByLabel('Duration');
    expect(await duration.locator('option').allInnerTexts()).toEqual(['2 s', '4 s', '6 s']);
    // The model's default stays the choice.
    expect(await duration.inputValue()).toBe('4');
  });

  it('shows each image size whole on a phone, its ratio included', async () => {
    await page.setViewportSize(PHONE_390);
    await page.goto(`${server.url}/create?tab=image`);
    const size = page.getByLabel('Size');
    await size.waitFor(T);
    // Each label's width in the select's font, plus its padding and arrow, against the select's width.
    const fits = await size.evaluate((select: HTMLSelectElement) => {
      const style = getComputedStyle(select);
      const context = document.createElement('canvas').getContext('2d')!;
      context.font = `${style.fontWeight} ${style.fontSize} ${style.fontFamily}`;
      const room = select.getBoundingClientRect().width - 48;
      return [...select.options].map((o) => ({
        label: o.text,
        fits: context.measureText(o.text).width <= room,
      }));
    });
    expect(fits.length).toBeGreaterThan(1);
    expect(fits.filter((f) => !f.fits)).toEqual([]);
  });

  it('says at once that a first frame does not exist, without showing its id, in both languages', async () => {
    for (const [locale, gone, label] of [
      ['en', 'The image to animate is gone; pick another one in the gallery.', 'First frame: your image'],
      ['zh-CN', '要生成视频的图像已不存在，请在作品库中另选一张。', '首帧：你的图像'],
    ] as const) {
      await page.goto(`${server.url}/create?tab=video&image=no-such-output-0123456789`);
      await setLocale(page, locale);
      const notice = page.getByTestId('first-frame-gone');
      await notice.waitFor(T);
      expect(await notice.textContent()).toContain(gone);
      expect(await page.getByTestId('first-frame').textContent()).not.toContain('0123456789');
      await page.getByTestId('first-frame').getByText(label).waitFor(T);
      if (locale === 'zh-CN') expect(await latinSentences(page)).toEqual([]);
    }
    await setLocale(page, 'en');
  });

  it('names each language in its own language, and stays clean for axe', async () => {
    await page.goto(`${server.url}/create`);
    // The switch is in the header, which renders once the session is checked.
    await page.getByTestId('language-switch').waitFor(T);
    const options = await page
      .getByTestId('language-switch')
      .locator('option')
      .evaluateAll((nodes) => nodes.map((n) => [n.textContent, n.getAttribute('lang')]));
    expect(options).toEqual([
      ['中文', 'zh-CN'],
      ['English', 'en'],
    ]);
    await page.goto(`${server.url}/admin/codes`);
    await page.locator('form').first().waitFor(T);
    for (const viewport of [DESKTOP, PHONE_390]) {
      await page.setViewportSize(viewport);
      expect(await axeSerious(page)).toEqual([]);
    }
  });
});
