// The SPA end to end: the built app served by the real server (SQLite, local disk, demo provider) in Chromium.
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ADMIN_EMAIL,
  browserAvailable,
  DESKTOP,
  ensureBuilt,
  headerBalance,
  launchBrowser,
  type RunningServer,
  shoot,
  signUpInUi,
  startServer,
} from './harness.ts';

const T = { timeout: 30_000 };
const BONUS = 20;

let server: RunningServer;
let browser: Browser;
let user: BrowserContext;
let page: Page;

beforeAll(async () => {
  ensureBuilt();
  // A small bonus, so the insufficient-credits path is reachable after a few generations.
  [server, browser] = await Promise.all([
    startServer({ SIGNUP_BONUS_CREDITS: String(BONUS) }),
    launchBrowser(),
  ]);
  user = await browser.newContext({ viewport: DESKTOP, locale: 'en-US' });
  page = await user.newPage();
});

afterAll(async () => {
  await browser?.close();
  await server?.stop();
});

describe.skipIf(!browserAvailable)('the Dream Factory SPA', () => {
  it('sends a signed-out visitor to sign in, and signs up with the bonus in the header', async () => {
    await page.goto(`${server.url}/gallery`);
    await page.waitForURL(/\/signin\?next=/, T);
    await page.getByRole('heading', { name: 'Welcome back' }).waitFor(T);
    await shoot(page, 'signin');
    await page.getByRole('link', { name: 'Create account' }).click();
    await page.getByRole('heading', { name: 'Start creating' }).waitFor(T);
    await shoot(page, 'signup');

    await signUpInUi(page, server.url, 'creator@example.com');
    expect(await headerBalance(page)).toBe(BONUS);
  });

  it('estimates for free, then generates an image in place and finds it in the gallery', async () => {
    await page.getByLabel('Prompt').first().fill('A lighthouse on a cliff at dawn, watercolor');
    await expect.poll(() => page.getByTestId('prompt-counter').textContent()).toBe('43 / 2000');
    const generate = page.getByTestId('generate');
    await expect.poll(() => generate.textContent()).toBe('Generate · 2 credits');

    await page.getByTestId('estimate').click();
    await page.getByTestId('estimate-result').waitFor(T);
    expect((await page.getByTestId('estimate-result').textContent()) ?? '').toContain('2 credits');
    expect(await headerBalance(page)).toBe(BONUS);

    await generate.click();
    await page.getByTestId('feed-job').first().getByTestId('result-image').waitFor(T);
    await page.waitForFunction(
      () => {
        const img = document.querySelector<HTMLImageElement>('[data-testid=result-image]');
        return img?.complete && img.naturalWidth > 0;
      },
      undefined,
      T,
    );
    await expect.poll(() => headerBalance(page), T).toBe(BONUS - 2);
    await shoot(page, 'create-image');

    await page.getByRole('link', { name: 'Gallery' }).click();
    await page.getByTestId('gallery-item').first().waitFor(T);
    expect(await page.getByTestId('gallery-item').count()).toBe(1);
    await shoot(page, 'gallery');
    await page.getByTestId('gallery-item').first().click();
    await page.getByTestId('output-detail').waitFor(T);
    expect((await page.getByTestId('detail-prompt').textContent()) ?? '').toBe(
      'A lighthouse on a cliff at dawn, watercolor',
    );
    await shoot(page, 'gallery-detail');
  });

  it('animates the image with its prompt, keeps the form and the live job through a reload, then plays it', async () => {
    await page.getByRole('button', { name: 'Animate this image' }).click();
    await page.waitForURL(/tab=video/, T);
    await page.getByText('First frame').waitFor(T);
    // The source prompt comes along.
    await expect
      .poll(() => page.getByLabel('Prompt').first().inputValue())
      .toBe('A lighthouse on a cliff at dawn, watercolor');
    await page.getByLabel('Prompt').first().fill('The waves roll in slowly');
    await expect.poll(() => page.getByTestId('generate').textContent()).toBe('Generate · 8 credits');
    await page.getByTestId('generate').click();

    const videoJob = page.locator('[data-testid=feed-job][data-kind=video]').first();
    await videoJob.waitFor(T);
    await shoot(page, 'create-video-progress');

    // A reload in the middle of the job: the form and the first frame stay, the feed follows the job again.
    await page.reload();
    await videoJob.waitFor(T);
    expect(await page.getByLabel('Prompt').first().inputValue()).toBe('The waves roll in slowly');
    // The first frame is named in words, with its thumbnail found in the feed.
    await page.getByTestId('first-frame').getByText('First frame: your image').waitFor(T);
    await page.getByTestId('first-frame').locator('img').waitFor(T);
    expect(await page.getByTestId('first-frame-gone').count()).toBe(0);
    await videoJob.getByTestId('result-video').waitFor({ timeout: 60_000 });
    await page.waitForFunction(
      () => (document.querySelector<HTMLVideoElement>('[data-testid=result-video]')?.readyState ?? 0) >= 1,
      undefined,
      { timeout: 30_000 },
    );
    expect(await videoJob.getAttribute('data-status')).toBe('succeeded');
    await expect.poll(() => headerBalance(page), T).toBe(BONUS - 10);
    await shoot(page, 'create-video-done');
  });

  it('shows a new image at the top of the feed after a video, with nothing to dismiss', async () => {
    await page.getByRole('tab', { name: 'Image' }).click();
    await page.getByLabel('Prompt').first().fill('A red kite over the sea');
    await page.getByTestId('generate').click();
    const top = page.getByTestId('feed-job').first();
    await expect.poll(() => top.getAttribute('data-kind'), T).toBe('image');
    await top.getByTestId('result-image').waitFor(T);
    expect(
      await page.locator('[data-testid=feed-job][data-kind=video] [data-testid=result-video]').count(),
    ).toBe(1);
    await expect.poll(() => headerBalance(page), T).toBe(BONUS - 12);
  });

  it('tells the user to edit a prompt the model rejects, and refunds it', async () => {
    await page.goto(`${server.url}/create?tab=image`);
    await page.getByLabel('Prompt').first().fill('Something the model refuses [demo:reject]');
    await page.getByTestId('generate').click();
    const alert = page.locator('form [data-app-code=CONTENT_REJECTED]');
    await alert.waitFor(T);
    expect((await alert.textContent()) ?? '').toContain('Edit the prompt');
    expect(await page.getByLabel('Prompt').first().getAttribute('aria-invalid')).toBe('true');
    await expect.poll(() => headerBalance(page), T).toBe(BONUS - 12);
    // The feed keeps the failed job with its reason.
    await page
      .locator('[data-testid=feed-job][data-status=failed] [data-app-code=CONTENT_REJECTED]')
      .waitFor(T);
    await shoot(page, 'create-rejected');
  });

  it('disables Generate with the reason when credits run short, and links to the redeem form', async () => {
    await page.goto(`${server.url}/create?tab=video`);
    await page.getByLabel('Prompt').first().fill('A long slow pan over mountains');
    await page.getByLabel('Resolution').selectOption('720p');
    await page.getByLabel('Duration').selectOption('6');
    await expect.poll(() => page.getByTestId('generate').textContent()).toBe('Generate · 18 credits');
    expect(await page.getByTestId('generate').isDisabled()).toBe(true);
    const reason = page.getByTestId('generate-reason');
    expect((await reason.textContent()) ?? '').toContain('You have 8 credits; this needs 18.');
    // The estimate follows the form: 2 s is 6 credits.
    await page.getByTestId('estimate').click();
    await expect.poll(() => page.getByTestId('estimate-result').textContent(), T).toContain('18 credits');
    await page.getByLabel('Duration').selectOption('2');
    await expect.poll(() => page.getByTestId('estimate-result').textContent(), T).toContain('6 credits');
    await page.getByLabel('Duration').selectOption('6');
    await shoot(page, 'create-insufficient');
    await reason.getByRole('link', { name: /Redeem a code/ }).click();
    await page.waitForURL(/\/credits#redeem/, T);
    await expect.poll(() => page.evaluate(() => document.activeElement?.id)).toBe('redeem-code');
  });

  it('redeems a code that the admin created, and the balance and history follow', async () => {
    const admin = await browser.newContext({ viewport: DESKTOP, locale: 'en-US' });
    const adminPage = await admin.newPage();
    try {
      await signUpInUi(adminPage, server.url, ADMIN_EMAIL);
      await adminPage.getByRole('link', { name: 'Admin' }).click();
      await adminPage.getByRole('heading', { name: 'Grant credits' }).waitFor(T);
      // exact: the row's Grant button is named "Grant credits to creator@example.com".
      await adminPage.getByRole('cell', { name: 'creator@example.com', exact: true }).waitFor(T);
      await shoot(adminPage, 'admin-users');

      await adminPage.getByRole('link', { name: 'Code batches' }).click();
      await adminPage.getByLabel('Credits per code').fill('50');
      await adminPage.getByLabel('Number of codes').fill('3');
      await adminPage.getByLabel('Note').fill('launch promo');
      await adminPage.getByRole('button', { name: 'Create batch' }).click();
      await adminPage.getByTestId('batch-created').waitFor(T);
      const codes = ((await adminPage.getByTestId('batch-codes').textContent()) ?? '')
        .split('\n')
        .filter(Boolean);
      expect(codes).toHaveLength(3);
      const download = adminPage.waitForEvent('download');
      await adminPage.getByRole('button', { name: 'Download CSV' }).click();
      expect((await download).suggestedFilename()).toMatch(/\.csv$/);
      // ^: the row's Disable button is named "Disable the batch “launch promo”".
      await adminPage.getByRole('cell', { name: /^launch promo/ }).waitFor(T);
      await shoot(adminPage, 'admin-codes');

      // The user types it in lower case with spaces: the server normalises it.
      await page
        .getByRole('textbox', { name: 'Code', exact: true })
        .fill(codes[0]!.toLowerCase().replaceAll('-', ' '));
      await page.getByRole('button', { name: 'Redeem' }).click();
      await page.getByTestId('redeem-success').waitFor(T);
      await expect.poll(() => headerBalance(page), T).toBe(BONUS - 12 + 50);
      await page.getByRole('cell', { name: 'Redeemed code' }).waitFor(T);
      await page.getByTestId('spend-chart').waitFor(T);
      // The chart's text alternative has the figures: 2 + 8 + 2 credits today (the rejected prompt was refunded).
      expect(await page.getByTestId('spend-chart').getAttribute('aria-label')).toMatch(
        /^Daily spending, last 30 days: 12 credits in total; most on .+ \(12\)\.$/,
      );
      await shoot(page, 'credits');

      // Redeeming the same code again is refused in plain words.
      await page.getByRole('textbox', { name: 'Code', exact: true }).fill(codes[0]!);
      await page.getByRole('button', { name: 'Redeem' }).click();
      await page.locator('[data-app-code=CODE_ALREADY_REDEEMED]').waitFor(T);

      await adminPage.getByRole('link', { name: 'Jobs' }).click();
      await adminPage.getByTestId('admin-jobs').waitFor(T);
      await shoot(adminPage, 'admin-jobs');
    } finally {
      await admin.close();
    }
  });

  it('deletes an output after confirmation', async () => {
    await page.goto(`${server.url}/gallery`);
    await page.getByTestId('gallery-item').first().waitFor(T);
    const before = await page.getByTestId('gallery-item').count();
    expect(before).toBe(3);
    await page.locator('[data-testid=gallery-item][data-kind=image]').first().click();
    await page.getByTestId('output-detail').getByRole('button', { name: 'Delete' }).click();
    const confirm = page.locator('dialog.dialog[open]');
    await confirm.getByText('Delete this image?').waitFor(T);
    await shoot(page, 'gallery-delete-confirm');
    await confirm.getByRole('button', { name: 'Delete' }).click();
    await page.getByText('Deleted.').waitFor(T);
    await expect.poll(() => page.getByTestId('gallery-item').count(), T).toBe(before - 1);

    await page.getByRole('button', { name: 'Videos' }).click();
    await expect.poll(() => page.locator('[data-testid=gallery-item][data-kind=video]').count(), T).toBe(1);
  });

  it('creates an API token shown once, with the typed-client snippet', async () => {
    await page.getByRole('link', { name: 'API tokens' }).click();
    await page.getByLabel('Token name').fill('my-script');
    await page.getByRole('button', { name: 'Create token' }).click();
    const token = (await page.getByTestId('new-token').textContent()) ?? '';
    expect(token.length).toBeGreaterThan(20);
    expect((await page.locator('pre.snippet').textContent()) ?? '').toContain(token);
    // exact: the row's Revoke button is named "Revoke “my-script”".
    await page.getByRole('cell', { name: 'my-script', exact: true }).waitFor(T);
    const res = await fetch(`${server.url}/trpc/credits.balance`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(res.status).toBe(200);
    await shoot(page, 'tokens');
  });

  it('switches language and remembers the choice', async () => {
    await page.goto(`${server.url}/create`);
    await page.getByTestId('language-switch').selectOption('zh-CN');
    await page.getByRole('link', { name: '作品库' }).waitFor(T);
    expect(await page.evaluate(() => document.documentElement.lang)).toBe('zh-CN');
    await shoot(page, 'create-zh');
    await page.reload();
    await page.getByRole('link', { name: '作品库' }).waitFor(T);
    await page.getByTestId('language-switch').selectOption('en');
    await page.getByRole('link', { name: 'Gallery' }).waitFor(T);
  });
});
