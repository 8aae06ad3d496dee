// Account features in Chromium under the real security headers: no CSP violation on any page, password
// change, reset through the logged link (no SMTP), sign out everywhere, the admin audit log.
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ADMIN_EMAIL,
  browserAvailable,
  DESKTOP,
  ensureBuilt,
  launchBrowser,
  PASSWORD,
  type RunningServer,
  signUpInUi,
  startServer,
} from './harness.ts';

const T = { timeout: 30_000 };

let server: RunningServer;
let browser: Browser;
let context: BrowserContext;
let page: Page;
const violations: string[] = [];

beforeAll(async () => {
  ensureBuilt();
  // LOG_LEVEL=info: without SMTP the reset link is delivered to the log.
  [server, browser] = await Promise.all([startServer({ LOG_LEVEL: 'info' }), launchBrowser()]);
  context = await browser.newContext({ viewport: DESKTOP, locale: 'en-US' });
  page = await context.newPage();
  page.on('console', (message) => {
    if (/Content Security Policy|Refused to/i.test(message.text())) violations.push(message.text());
  });
});

afterAll(async () => {
  await browser?.close();
  await server?.stop();
});

describe.skipIf(!browserAvailable)('accounts in the SPA', () => {
  it('runs every page under the CSP without a violation', async () => {
    await signUpInUi(page, server.url, ADMIN_EMAIL);
    for (const path of [
      '/create',
      '/gallery',
      '/credits',
      '/tokens',
      '/account',
      '/admin/users',
      '/admin/audit',
    ]) {
      await page.goto(`${server.url}${path}`);
      await page.locator('main h1').first().waitFor(T);
    }
    await page.getByTestId('audit-table').waitFor(T);
    // Actions are named in the page's language, not by their ids.
    expect(await page.getByTestId('audit-table').textContent()).toContain('Signed up');
    expect(violations).toEqual([]);
  });

  it('changes the password from the account page', async () => {
    await page.goto(`${server.url}/account`);
    await page.getByLabel('Current password').fill(PASSWORD);
    await page.getByLabel('New password').fill('password123');
    await page.getByRole('button', { name: 'Change password' }).click();
    await page.getByText('one of the most common ones').waitFor(T);
    await page.getByLabel('New password').fill('a much better secret');
    await page.getByRole('button', { name: 'Change password' }).click();
    await page.getByText('Password changed.').waitFor(T);
  });

  it('signs out everywhere, then resets the password through the link', async () => {
    await page.goto(`${server.url}/account`);
    await page.getByRole('button', { name: 'Sign out everywhere' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Sign out everywhere' }).click();
    await page.waitForURL(/\/signin/, T);

    await page.getByRole('link', { name: 'Forgot your password?' }).click();
    await page.getByLabel('Email').fill(ADMIN_EMAIL);
    await page.getByRole('button', { name: 'Send the link' }).click();
    await page.getByText('the link is on its way').waitFor(T);
    const deadline = Date.now() + 10_000;
    let link: string | undefined;
    while (!link && Date.now() < deadline) {
      link = /https?:\/\/[^\s"\\]+\/reset-password\?token=[\w-]+/.exec(server.logs())?.[0];
      if (!link) await new Promise((r) => setTimeout(r, 200));
    }
    expect(link).toBeTruthy();
    await page.goto(`${server.url}${new URL(link!).pathname}${new URL(link!).search}`);
    await page.getByLabel('New password').fill('the newest secret 3');
    await page.getByRole('button', { name: 'Save and sign in' }).click();
    await page.waitForURL(/\/create/, T);
    await page.getByTestId('header-balance').waitFor(T);
    expect(violations).toEqual([]);
  });
});
