// The Create page as a workspace (issue 14), in Chromium at desktop and phone width, in English and Chinese:
// one click one job, media shown whole, settings kept and reused, failures in the user's language, axe clean.
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ADMIN_EMAIL,
  apiMutate,
  apiQuery,
  axeSerious,
  browserAvailable,
  DESKTOP,
  ensureBuilt,
  latinSentences,
  launchBrowser,
  PASSWORD,
  PHONE,
  type RunningServer,
  setLocale,
  shoot,
  signUpInUi,
  startServer,
} from './harness.ts';

const T = { timeout: 30_000 };
const VIEWPORTS = [
  ['desktop', DESKTOP],
  ['phone', PHONE],
] as const;

let server: RunningServer;
let browser: Browser;
let context: BrowserContext;
let page: Page;
const typed: string[] = [];

interface JobItem {
  id: string;
  kind: string;
  status: string;
  params: Record<string, unknown>;
}
const jobs = () => apiQuery<{ items: JobItem[] }>(page, server.url, 'jobs.list', { limit: 100 });
const charges = async () =>
  (
    await apiQuery<{ items: { kind: string }[] }>(page, server.url, 'credits.history', { limit: 100 })
  ).items.filter((r) => r.kind === 'charge').length;

const fillPrompt = async (text: string) => {
  typed.push(text);
  await page.locator('#prompt').fill(text);
};
const waitIdle = (kind: 'image' | 'video') =>
  expect
    .poll(
      async () =>
        (await jobs()).items.filter(
          (j) => j.kind === kind && !['succeeded', 'failed', 'canceled'].includes(j.status),
        ).length,
      {
        timeout: 60_000,
      },
    )
    .toBe(0);

/** The element's box against the media's own shape: equal ratios mean no crop and no stretch. */
async function shapeOf(selector: string) {
  await page.waitForFunction(
    (s) => {
      const el = document.querySelector(s) as HTMLImageElement | HTMLVideoElement | null;
      if (!el) return false;
      return el instanceof HTMLVideoElement
        ? el.readyState >= 1 && el.videoWidth > 0
        : el.complete && el.naturalWidth > 0;
    },
    selector,
    { timeout: 60_000 },
  );
  return page.evaluate((s) => {
    const el = document.querySelector(s) as HTMLImageElement | HTMLVideoElement;
    const box = el.getBoundingClientRect();
    const natural =
      el instanceof HTMLVideoElement ? [el.videoWidth, el.videoHeight] : [el.naturalWidth, el.naturalHeight];
    return {
      box: box.width / box.height,
      natural: (natural[0] ?? 1) / (natural[1] ?? 1),
      fit: getComputedStyle(el).objectFit,
      width: box.width,
    };
  }, selector);
}

beforeAll(async () => {
  ensureBuilt();
  [server, browser] = await Promise.all([
    startServer({ SIGNUP_BONUS_CREDITS: '20', DEMO_DELAY_MS: '300' }),
    launchBrowser(),
  ]);
  context = await browser.newContext({ viewport: DESKTOP, locale: 'en-US' });
  page = await context.newPage();
});

afterAll(async () => {
  await browser?.close();
  await server?.stop();
});

describe.skipIf(!browserAvailable)('the Create workspace', () => {
  it('signs up, and an operator grants credits to work with', async () => {
    const admin = await browser.newContext({ viewport: DESKTOP, locale: 'en-US' });
    const adminPage = await admin.newPage();
    await signUpInUi(adminPage, server.url, ADMIN_EMAIL);
    await signUpInUi(page, server.url, 'maker@example.com');
    await apiMutate(adminPage, server.url, 'admin.credits.grant', {
      email: 'maker@example.com',
      amount: 500,
      note: '',
    });
    await admin.close();
    await page.reload();
    await page.getByTestId('generate').waitFor(T);
  });

  it('makes one job and one charge for a double-click on Generate, on both tabs and both widths', async () => {
    for (const [name, viewport] of VIEWPORTS) {
      await page.setViewportSize(viewport);
      for (const tab of ['image', 'video'] as const) {
        await page.goto(`${server.url}/create?tab=${tab}`);
        await fillPrompt(`double click ${tab} ${name}`);
        const before = { jobs: (await jobs()).items.length, charges: await charges() };
        await page.getByTestId('generate').scrollIntoViewIfNeeded();
        const box = await page.getByTestId('generate').boundingBox();
        if (!box) throw new Error('no Generate button');
        const [x, y] = [box.x + box.width / 2, box.y + box.height / 2];
        await page.mouse.click(x, y);
        await page.waitForTimeout(150);
        await page.mouse.click(x, y);
        await page.waitForTimeout(80);
        await page.mouse.click(x, y);
        await waitIdle(tab);
        await page.waitForTimeout(1200);
        expect((await jobs()).items.length, `${tab} ${name}`).toBe(before.jobs + 1);
        expect(await charges(), `${tab} ${name}`).toBe(before.charges + 1);
      }
    }
    await page.setViewportSize(DESKTOP);
  });

  it('still makes a second job for a deliberate second press', async () => {
    await page.goto(`${server.url}/create?tab=image`);
    await fillPrompt('two separate presses');
    const before = (await jobs()).items.length;
    await page.getByTestId('generate').click();
    await expect.poll(async () => (await jobs()).items.length, T).toBe(before + 1);
    await expect.poll(() => page.getByTestId('generate').isEnabled(), T).toBe(true);
    await page.getByTestId('generate').click();
    await expect.poll(async () => (await jobs()).items.length, T).toBe(before + 2);
    await waitIdle('image');
  });

  it('shows a landscape video and a square image whole on Create and in the detail view, at both widths', async () => {
    await page.goto(`${server.url}/create?tab=image`);
    await page.getByLabel('Size').selectOption('1024x1024');
    await fillPrompt('a square lantern');
    await page.getByTestId('generate').click();
    await page.getByTestId('feed-job').first().getByTestId('result-image').waitFor(T);
    await page.getByRole('tab', { name: 'Video' }).click();
    await fillPrompt('a wide sea at dawn');
    await page.getByLabel('Resolution').selectOption('480p');
    await page.getByTestId('generate').click();
    await page.locator('[data-testid=feed-job][data-kind=video]').first().waitFor(T);
    await waitIdle('video');
    const list = (await jobs()).items;
    const video = list.find((j) => j.kind === 'video' && j.status === 'succeeded');
    const image = list.find((j) => j.kind === 'image' && j.params.size === '1024x1024');
    expect(video && image).toBeTruthy();

    for (const [name, viewport] of VIEWPORTS) {
      await page.setViewportSize(viewport);
      await page.goto(`${server.url}/create`);
      const v = await shapeOf(`[data-job-id="${video?.id}"] [data-testid=result-video]`);
      const i = await shapeOf(`[data-job-id="${image?.id}"] [data-testid=result-image]`);
      expect(v.natural, name).toBeCloseTo(832 / 480, 2);
      expect(Math.abs(v.box / v.natural - 1), `video box on Create, ${name}`).toBeLessThan(0.02);
      expect(i.natural).toBe(1);
      expect(Math.abs(i.box - 1), `image box on Create, ${name}`).toBeLessThan(0.02);
      expect([v.fit, i.fit]).toEqual(['contain', 'contain']);
      if (name === 'desktop') await shoot(page, 'workspace-feed');

      const detail = await apiQuery<{ outputs: { id: string }[] }>(page, server.url, 'jobs.get', {
        id: video?.id,
      });
      await page.goto(`${server.url}/gallery?id=${detail.outputs[0]?.id}`);
      const dv = await shapeOf('[data-testid=detail-video]');
      expect(Math.abs(dv.box / dv.natural - 1), `video in detail, ${name}`).toBeLessThan(0.02);
      expect(dv.fit).toBe('contain');
      const imageOutput = await apiQuery<{ outputs: { id: string }[] }>(page, server.url, 'jobs.get', {
        id: image?.id,
      });
      await page.goto(`${server.url}/gallery?id=${imageOutput.outputs[0]?.id}`);
      const di = await shapeOf('[data-testid=detail-image]');
      expect(Math.abs(di.box - 1), `image in detail, ${name}`).toBeLessThan(0.02);
      expect(di.width).toBeLessThanOrEqual(viewport.width);
    }
    await page.setViewportSize(DESKTOP);
  });

  it('pages through the detail view with the arrow keys and gives focus back to the tile', async () => {
    await page.goto(`${server.url}/gallery`);
    const first = page.getByTestId('gallery-item').first();
    await first.waitFor(T);
    const ids = await page
      .getByTestId('gallery-item')
      .evaluateAll((nodes) => nodes.map((n) => n.getAttribute('data-output-id')));
    await first.focus();
    await page.keyboard.press('Enter');
    await page.getByTestId('output-detail').waitFor(T);
    await page.keyboard.press('ArrowRight');
    await expect.poll(() => page.getByTestId('output-detail').getAttribute('data-output-id')).toBe(ids[1]);
    await page.keyboard.press('ArrowRight');
    await expect.poll(() => page.getByTestId('output-detail').getAttribute('data-output-id')).toBe(ids[2]);
    await page.keyboard.press('ArrowLeft');
    await expect.poll(() => page.getByTestId('output-detail').getAttribute('data-output-id')).toBe(ids[1]);
    await page.keyboard.press('Escape');
    await expect
      .poll(() => page.evaluate(() => document.activeElement?.getAttribute('data-output-id')))
      .toBe(ids[1]);
    // Hovering a tile shows its prompt.
    await first.hover();
    await expect
      .poll(() => first.getByTestId('thumb-caption').evaluate((n) => getComputedStyle(n).opacity))
      .toBe('1');
  });

  it('keeps the form through a reload in the middle of a video, and Reuse restores every setting', async () => {
    await page.goto(`${server.url}/create?tab=video`);
    await fillPrompt('slow waves, reload me');
    await page.getByLabel('Resolution').selectOption('720p');
    await page.getByLabel('Duration').selectOption('2');
    await page.locator('details.advanced summary').click();
    await page.getByTestId('seed').fill('4242');
    await page.getByTestId('generate').click();
    await page
      .locator(
        '[data-testid=feed-job][data-kind=video][data-status=queued], [data-testid=feed-job][data-kind=video][data-status=running]',
      )
      .first()
      .waitFor(T);
    await page.reload();
    await page.getByTestId('generate').waitFor(T);
    expect(await page.locator('#prompt').inputValue()).toBe('slow waves, reload me');
    expect(await page.getByLabel('Resolution').inputValue()).toBe('720p');
    expect(await page.getByLabel('Duration').inputValue()).toBe('2');
    expect(await page.getByTestId('seed').inputValue()).toBe('4242');
    await waitIdle('video');

    // An image job with every setting, then a different form, then Reuse.
    await page.getByRole('tab', { name: 'Image' }).click();
    await fillPrompt('a portrait lantern, reuse me');
    await page.getByLabel('Size').selectOption('768x1024');
    await page.getByLabel('Count').selectOption('2');
    await page.locator('#negative-prompt').fill('blurry');
    await page.getByTestId('seed').fill('77');
    await page.getByTestId('generate').click();
    const imageJob = page.locator('[data-testid=feed-job][data-kind=image][data-status=succeeded]').first();
    await expect.poll(() => imageJob.getAttribute('aria-label'), T).toBe('a portrait lantern, reuse me');
    await fillPrompt('something else');
    await page.getByLabel('Size').selectOption('512x512');
    await page.getByLabel('Count').selectOption('1');
    await page.locator('#negative-prompt').fill('');
    await page.getByTestId('seed').fill('');
    await imageJob.getByRole('button', { name: 'Reuse settings' }).click();
    expect(await page.locator('#prompt').inputValue()).toBe('a portrait lantern, reuse me');
    expect(await page.getByLabel('Size').inputValue()).toBe('768x1024');
    expect(await page.getByLabel('Count').inputValue()).toBe('2');
    expect(await page.locator('#negative-prompt').inputValue()).toBe('blurry');
    expect(await page.getByTestId('seed').inputValue()).toBe('77');
    expect(await page.getByTestId('model-select').inputValue()).toBe('demo-image');

    const videoJob = page
      .locator('[data-testid=feed-job][data-kind=video]', { hasText: 'slow waves, reload me' })
      .first();
    await videoJob.getByRole('button', { name: 'Reuse settings' }).click();
    await page.waitForURL(/tab=video/, T);
    expect(await page.locator('#prompt').inputValue()).toBe('slow waves, reload me');
    expect(await page.getByLabel('Resolution').inputValue()).toBe('720p');
    expect(await page.getByLabel('Duration').inputValue()).toBe('2');
    expect(await page.getByTestId('seed').inputValue()).toBe('4242');
    expect(await page.getByTestId('model-select').inputValue()).toBe('demo-video');
  });

  it('says everything in Chinese: a failed job in the feed, a failed generation, the ledger and a failed sign-up', async () => {
    await setLocale(page, 'zh-CN');
    for (const [name, viewport] of VIEWPORTS) {
      await page.setViewportSize(viewport);
      await page.goto(`${server.url}/create?tab=image`);
      await fillPrompt(`会失败的灯笼 ${name} [demo:fail]`);
      await page.getByTestId('generate').click();
      const failed = page.locator('[data-testid=feed-job][data-status=failed]').first();
      await expect.poll(() => failed.getAttribute('aria-label'), T).toBe(`会失败的灯笼 ${name} [demo:fail]`);
      expect((await failed.textContent()) ?? '').toContain('模型生成失败，积分已退还。');
      await page.locator('form [data-app-code=PROVIDER_FAILED]').waitFor(T);
      expect(await latinSentences(page, typed), `create ${name}`).toEqual([]);
      if (name === 'desktop') await shoot(page, 'create-failed-zh');

      await page.goto(`${server.url}/credits`);
      await page
        .getByTestId('ledger-row')
        .first()
        .waitFor({ state: 'attached', ...T });
      const ledger = page.locator(
        name === 'phone' ? '[data-testid=ledger-cards]' : '[data-testid=credits-history]',
      );
      // Model names come with ai.models, which may land after the history. The rendered text
      // (innerText): textContent would also hold what the layout hides.
      // biome-ignore lint/performance/useDomNodeTextContent: the rendered text is the point
      await expect.poll(() => ledger.innerText(), T).toContain('视频 · 演示视频（离线） · 2 秒');
      // biome-ignore lint/performance/useDomNodeTextContent: the rendered text is the point
      const text = await ledger.innerText();
      expect(text).toContain('管理员发放的积分');
      expect(text).toContain('新账号赠送的积分');
      expect(await latinSentences(page, typed), `ledger ${name}`).toEqual([]);
      // A ledger row links to its job on the Create page.
      await page
        .locator(
          `[data-testid=${name === 'phone' ? 'ledger-cards' : 'credits-history'}] [data-testid=ledger-job]`,
        )
        .first()
        .click();
      await page.waitForURL(/\/create#job-/, T);
      await expect
        .poll(() => page.evaluate(() => document.activeElement?.getAttribute('data-testid')), T)
        .toBe('feed-job');
    }
    await page.setViewportSize(DESKTOP);

    const visitor = await browser.newContext({ viewport: PHONE, locale: 'zh-CN' });
    const signup = await visitor.newPage();
    try {
      await signup.goto(`${server.url}/signup`);
      await signup.locator('input[name=email]').fill('not-an-email');
      await signup.locator('input[name=password]').fill('short');
      await signup.locator('form button[type=submit]').click();
      await signup.locator('.field-error').first().waitFor(T);
      expect(await signup.locator('.field-error').allInnerTexts()).toEqual([
        '请输入有效的邮箱地址。',
        '密码至少需要 8 个字符。',
      ]);
      expect(await latinSentences(signup, ['not-an-email', 'short'])).toEqual([]);
      await signup.locator('input[name=email]').fill('maker@example.com');
      await signup.locator('input[name=password]').fill(PASSWORD);
      await signup.locator('form button[type=submit]').click();
      await signup.locator('[role=alert]').waitFor(T);
      expect(await latinSentences(signup)).toEqual([]);
      // A taken address: the field is marked, and the two ways on are links.
      expect(await signup.locator('input[name=email]').getAttribute('aria-invalid')).toBe('true');
      expect(await signup.locator('[role=alert] a').allInnerTexts()).toEqual(['登录', '重置密码']);
      expect(await signup.title()).toBe('注册账号 · 梦工厂');
      await shoot(signup, 'workspace-signup-failed-zh');
    } finally {
      await visitor.close();
    }
    await setLocale(page, 'en');
  });

  it('selects several outputs in the gallery and deletes them together', async () => {
    await page.goto(`${server.url}/gallery`);
    await page.getByTestId('gallery-item').first().waitFor(T);
    const before = await page.getByTestId('gallery-item').count();
    await page.getByTestId('gallery-select').nth(0).check();
    await page.getByTestId('gallery-select').nth(1).check();
    expect(await page.getByTestId('selection-count').textContent()).toBe('2 selected');
    await shoot(page, 'gallery-selection');
    await page.getByTestId('delete-selected').click();
    await page.locator('dialog.dialog[open]').getByRole('button', { name: 'Delete' }).click();
    await expect.poll(() => page.getByTestId('gallery-item').count(), T).toBe(before - 2);
  });

  it('searches the gallery by prompt, Chinese terms included', async () => {
    typed.push('夜里的红灯笼');
    await apiMutate(page, server.url, 'ai.generateImage', { prompt: '夜里的红灯笼', size: '512x512' });
    await page.goto(`${server.url}/gallery`);
    await page.getByTestId('gallery-search').fill('灯笼');
    await page.waitForURL(/q=/, T);
    await expect
      .poll(async () => {
        const titles = await page
          .getByTestId('gallery-item')
          .evaluateAll((n) => n.map((x) => x.getAttribute('title')));
        return titles.length > 0 && titles.every((title) => title?.includes('灯笼'));
      }, T)
      .toBe(true);
    await page.getByTestId('gallery-search').fill('nothing-like-this-anywhere');
    await page.getByText('Nothing matches').waitFor(T);
  });

  it('has no serious axe violations on any page, in both languages, both widths and both themes', async () => {
    const admin = await browser.newContext({ viewport: DESKTOP, locale: 'en-US' });
    const adminPage = await admin.newPage();
    await adminPage.goto(`${server.url}/signin`);
    await adminPage.locator('input[name=email]').fill(ADMIN_EMAIL);
    await adminPage.locator('input[name=password]').fill(PASSWORD);
    await adminPage.locator('form button[type=submit]').click();
    await adminPage.waitForURL(/\/create/, T);
    const visitor = await browser.newContext({ viewport: DESKTOP, locale: 'en-US' });
    const visitorPage = await visitor.newPage();
    const pages: [Page, string, string, string][] = [
      [visitorPage, 'signin', '/signin', 'form'],
      [visitorPage, 'signup', '/signup', 'form'],
      [page, 'create', '/create', '[data-testid=feed-job]'],
      [page, 'create-video', '/create?tab=video', '[data-testid=feed-job]'],
      [page, 'gallery', '/gallery', '[data-testid=gallery-item]'],
      [page, 'credits', '/credits', '[data-testid=ledger-row]'],
      [page, 'tokens', '/tokens', 'h1'],
      [adminPage, 'admin-users', '/admin/users', 'table'],
      [adminPage, 'admin-codes', '/admin/codes', 'form'],
      [adminPage, 'admin-jobs', '/admin/jobs', '[data-testid=admin-jobs]'],
    ];
    const found: string[] = [];
    try {
      // Light in both languages; dark in Chinese (colours do not depend on the language), each at both widths.
      const runs = [
        ['en', 'light'],
        ['zh-CN', 'light'],
        ['zh-CN', 'dark'],
      ] as const;
      for (const [p, name, url, ready] of pages) {
        for (const [locale, theme] of runs) {
          await p.emulateMedia({ colorScheme: theme });
          await p.goto(`${server.url}${url}`);
          await p.evaluate((l) => localStorage.setItem('df.locale', l), locale);
          await p.goto(`${server.url}${url}`);
          await p
            .locator(ready)
            .first()
            .waitFor({ state: 'attached', ...T });
          await p.waitForTimeout(200);
          for (const [width, viewport] of VIEWPORTS) {
            await p.setViewportSize(viewport);
            await p.waitForTimeout(100);
            for (const v of await axeSerious(p))
              found.push(`${name} ${locale} ${theme} ${width}: ${v.id} ${v.nodes.join(' | ')}`);
          }
          await p.setViewportSize(DESKTOP);
          // Screenshots: every page in both languages; the dark theme for a few.
          if (theme === 'light') await shoot(p, `${name}-${locale === 'en' ? 'en' : 'zh'}`);
          else if (['create', 'gallery', 'credits'].includes(name)) await shoot(p, `${name}-zh-dark`);
        }
        await p.emulateMedia({ colorScheme: 'light' });
      }
    } finally {
      await admin.close();
      await visitor.close();
    }
    expect(found).toEqual([]);
    // The title names the page, in the page's language.
    expect(await page.title()).toBe('API 令牌 · 梦工厂');
  }, 600_000);
});
