// The page states the other sweeps do not reach, in English and Chinese at desktop and phone width, checked with
// axe at every impact (moderate and minor too): the signed-out account pages, not-found, the account page and
// its confirmation, a new code batch, the gallery's detail with its delete confirmation (a dialog over a
// dialog), a token's revoke confirmation; and what a failing server looks like — a session check that gets no
// answer says so (with Try again) instead of showing the sign-in page, a feed that cannot load says that alone.
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ADMIN_EMAIL,
  apiMutate,
  apiQuery,
  axeViolations,
  browserAvailable,
  DESKTOP,
  latinSentences,
  openSession,
  PHONE,
  type RunningServer,
  setLocale,
  shoot,
} from './harness.ts';

const T = { timeout: 30_000 };
const LOCALES = ['en', 'zh-CN'] as const;
type Locale = (typeof LOCALES)[number];
/** What the test typed, which the Chinese UI shows as it is. */
const PROMPT = 'a quiet harbour at dusk';
const TOKEN = 'states-script';
const TYPED = [PROMPT, TOKEN];

let server: RunningServer;
let page: Page;
let visitor: Page;
let close: () => Promise<void>;
let imageId = '';

beforeAll(async () => {
  let browser: Awaited<ReturnType<typeof openSession>>['browser'];
  ({ server, browser, page, close } = await openSession(DESKTOP));
  // The admin has every page; an image, a token and a code batch give the rows and dialogs something to show.
  await page.goto(`${server.url}/signin`);
  const up = await page.request.post(`${server.url}/trpc/auth.signUp`, {
    data: { json: { email: ADMIN_EMAIL, password: 'correct horse battery' } },
  });
  expect(up.ok()).toBe(true);
  await apiMutate(page, server.url, 'ai.generateImage', { prompt: PROMPT, size: '512x512' });
  await apiMutate(page, server.url, 'apiTokens.create', { name: TOKEN });
  const outputs = await apiQuery<{ items: { id: string }[] }>(page, server.url, 'outputs.list', {});
  imageId = outputs.items[0]?.id ?? '';
  visitor = await (await browser.newContext({ viewport: DESKTOP, locale: 'en-US' })).newPage();
});

afterAll(() => close?.());

/** Every axe violation on the page at desktop and phone width, as "state width: rule target". */
async function violations(p: Page, state: string) {
  const found: string[] = [];
  for (const [width, viewport] of [
    ['desktop', DESKTOP],
    ['phone', PHONE],
  ] as const) {
    await p.setViewportSize(viewport);
    await p.waitForTimeout(150);
    for (const v of await axeViolations(p))
      found.push(`${state} ${width}: ${v.id} (${v.impact}) ${v.nodes[0]}`);
  }
  await p.setViewportSize(DESKTOP);
  return found;
}

async function open(p: Page, locale: Locale, url: string, ready: string) {
  await p.goto(`${server.url}/signin`);
  await setLocale(p, locale);
  await p.goto(`${server.url}${url}`);
  await p
    .locator(ready)
    .first()
    .waitFor({ state: 'visible', ...T });
}

describe.skipIf(!browserAvailable)('every page state', () => {
  it('is clean for axe at every impact, in both languages and at both widths', async () => {
    const found: string[] = [];
    const latin: string[] = [];
    for (const locale of LOCALES) {
      const check = async (p: Page, state: string, shown: string[] = []) => {
        found.push(...(await violations(p, `${state} ${locale}`)));
        if (locale === 'zh-CN')
          for (const s of await latinSentences(p, [...TYPED, ...shown])) latin.push(`${state}: ${s}`);
      };
      // Signed out: the account pages, in their plain and their error states, and an unknown address.
      await open(visitor, locale, '/forgot-password', 'form');
      await check(visitor, 'forgot-password');
      await open(visitor, locale, '/reset-password', 'h1');
      await check(visitor, 'reset-password without a token');
      await open(visitor, locale, '/verify-email?token=not-a-real-token', '.notice');
      await check(visitor, 'verify-email with a spent link');
      await open(visitor, locale, '/no/such/page', 'h1');
      await check(visitor, 'not found, signed out');

      // Signed in.
      await open(page, locale, '/account', 'h1');
      await check(page, 'account');
      await page.locator('button.btn-danger-ghost').last().click();
      await page.locator('dialog.dialog[open]').waitFor(T);
      await check(page, 'account, sign out everywhere?');
      await page.keyboard.press('Escape');

      await open(page, locale, '/admin/codes', 'form');
      await page.locator('form button[type=submit]').first().click();
      const codes = page.getByTestId('batch-codes');
      await codes.waitFor(T);
      // The box of codes scrolls, so a keyboard must be able to reach it (axe: scrollable-region-focusable).
      expect(await codes.getAttribute('tabindex')).toBe('0');
      await check(page, 'admin, a new batch', ((await codes.textContent()) ?? '').split('\n'));
      await open(page, locale, '/admin/audit', 'h1');
      await check(page, 'admin, audit log');

      await open(page, locale, `/gallery?id=${imageId}`, '[data-testid=output-detail]');
      await check(page, 'gallery, detail');
      await page.locator('[data-testid=output-detail] .btn-danger-ghost').click();
      await page.locator('dialog.dialog[open]').waitFor(T);
      await check(page, 'gallery, detail, delete?');
      await page.keyboard.press('Escape');

      await open(page, locale, '/tokens', '[data-testid=tokens-table]');
      await page
        .getByRole('button', { name: /Revoke|吊销/ })
        .first()
        .click();
      // The confirmation is named by its question, which names the token.
      await page.getByRole('dialog', { name: new RegExp(TOKEN) }).waitFor(T);
      await check(page, 'tokens, revoke?');
      await page.keyboard.press('Escape');

      await open(page, locale, '/no/such/page', 'h1');
      await check(page, 'not found, signed in');
    }
    expect(found).toEqual([]);
    expect(latin).toEqual([]);
  }, 300_000);

  it('says the server cannot be reached, with Try again, instead of showing the sign-in page', async () => {
    await open(page, 'zh-CN', '/gallery', 'h1');
    // No answer to anything, the session check included.
    await page.route('**/trpc/**', (route) => route.abort());
    const notice = page.getByTestId('session-error');
    try {
      await page.reload();
      await notice.waitFor(T);
      expect(new URL(page.url()).pathname).toBe('/gallery');
      expect(await notice.textContent()).toContain('无法连接服务器');
      expect(await violations(page, 'session unknown')).toEqual([]);
      await shoot(page, 'session-error-zh');
    } finally {
      await page.unrouteAll();
    }
    // The server answers again: Try again shows the page the user was on.
    await notice.getByRole('button', { name: '重试' }).click();
    await page.getByRole('heading', { level: 1, name: '作品库' }).waitFor(T);
  });

  it('shows a feed that cannot load as an error, not as an empty feed', async () => {
    await page.unrouteAll();
    await open(page, 'en', '/gallery', 'h1');
    // The feed's list gets a proxy's error page; the session check still answers.
    await page.route('**/trpc/**', (route) =>
      route.request().url().includes('jobs.list')
        ? route.fulfill({ status: 502, contentType: 'text/html', body: '<h1>Bad Gateway</h1>' })
        : route.continue(),
    );
    try {
      await page.getByRole('link', { name: 'Create' }).click();
      const feed = page.getByTestId('feed');
      await feed.getByRole('alert').waitFor(T);
      expect(await feed.getByRole('alert').textContent()).toContain('temporarily unavailable');
      expect(await feed.textContent()).not.toContain('Your results will appear here');
    } finally {
      await page.unrouteAll();
    }
  });
});
