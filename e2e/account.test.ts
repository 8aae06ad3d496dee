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

  it('says a confirmation or reset link is invalid however short its token, or when it has none', async () => {
    for (const path of ['/verify-email?token=bad', '/verify-email']) {
      await page.goto(`${server.url}${path}`);
      await page.getByText('This confirmation link is invalid, used or expired.').waitFor(T);
    }
    await page.goto(`${server.url}/reset-password`);
    await page.getByText('This reset link is invalid, used or expired').waitFor(T);
    await page.goto(`${server.url}/reset-password?token=bad`);
    await page.getByLabel('New password').fill('a fine new secret 7');
    await page.getByRole('button', { name: 'Save and sign in' }).click();
    await page.getByText('This reset link is invalid, used or expired').waitFor(T);
    expect(await page.getByText('at least 10 characters').count()).toBe(0);
  });

  it('offers sign-in and a password reset, with the address, when a sign-up finds it taken', async () => {
    const visitor = await context.browser()!.newContext({ viewport: DESKTOP, locale: 'en-US' });
    const signup = await visitor.newPage();
    try {
      await signup.goto(`${server.url}/signup`);
      await signup.getByLabel('Email').fill(ADMIN_EMAIL);
      await signup.getByLabel('Password').fill('another good secret');
      await signup.getByRole('button', { name: 'Create account' }).click();
      const alert = signup.getByRole('alert');
      await alert.getByText('An account with this email already exists.').waitFor(T);
      expect(await alert.textContent()).toBe(
        'An account with this email already exists. Sign in, or reset the password.',
      );
      expect(await signup.getByLabel('Email').getAttribute('aria-invalid')).toBe('true');
      await alert.getByRole('link', { name: 'reset the password' }).click();
      await signup.waitForURL(/\/forgot-password$/, T);
      // The reset page itself (its chunk may still be loading while the sign-up form shows under the new URL).
      await signup.getByRole('heading', { level: 1, name: 'Reset your password' }).waitFor(T);
      expect(await signup.getByLabel('Email').inputValue()).toBe(ADMIN_EMAIL);
      // Back on a fresh sign-up form (the refusal is not kept in history), the other way on: sign in.
      await signup.goBack();
      await signup.waitForURL(/\/signup$/, T);
      await signup.getByLabel('Email').fill(ADMIN_EMAIL);
      await signup.getByLabel('Password').fill('another good secret');
      await signup.getByRole('button', { name: 'Create account' }).click();
      await signup.getByRole('alert').getByRole('link', { name: 'Sign in' }).click();
      await signup.waitForURL(/\/signin$/, T);
      expect(await signup.getByLabel('Email').inputValue()).toBe(ADMIN_EMAIL);
    } finally {
      await visitor.close();
    }
  });

  it('signs out everywhere, then resets the password through the link', async () => {
    await page.goto(`${server.url}/account`);
    await page.getByRole('button', { name: 'Sign out everywhere' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Sign out everywhere' }).click();
    await page.waitForURL(/\/signin/, T);

    await page.getByRole('link', { name: 'Forgot your password?' }).click();
    // The sign-in page has an Email field too: fill the one on the page the link opens.
    await page.getByRole('heading', { name: 'Reset your password' }).waitFor(T);
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
