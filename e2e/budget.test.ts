// Performance budgets: a first visit (initial JS and the core dictionary) under 120 KB gzip; the gallery lays out 60 thumbnails without shifting.
import path from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIRST_VISIT_BUDGET, initialJs } from '../scripts/bundle-size.ts';
import {
  browserAvailable,
  DESKTOP,
  ensureBuilt,
  launchBrowser,
  PASSWORD,
  ROOT,
  type RunningServer,
  shoot,
  startServer,
} from './harness.ts';

let server: RunningServer;
let browser: Browser;

beforeAll(async () => {
  ensureBuilt();
  // Fast demo generations and enough credits for 60 images.
  [server, browser] = await Promise.all([
    startServer({ DEMO_DELAY_MS: '100', SIGNUP_BONUS_CREDITS: '500' }),
    launchBrowser(),
  ]);
});

afterAll(async () => {
  await browser?.close();
  await server?.stop();
});

/** Calls a tRPC mutation over plain HTTP (superjson envelope), as the SPA's link would. */
async function mutate(pathName: string, input: unknown, cookie?: string) {
  const res = await fetch(`${server.url}/trpc/${pathName}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(cookie ? { cookie } : {}) },
    body: JSON.stringify({ json: input }),
  });
  if (!res.ok) throw new Error(`${pathName}: ${res.status} ${await res.text()}`);
  return res;
}

describe.skipIf(!browserAvailable)('budgets', () => {
  it('keeps a first visit (initial JS and the core dictionary) under 120 KB gzip', () => {
    const { gzip, files, dictionary, firstVisit } = initialJs(path.join(ROOT, 'dist', 'client'));
    console.log(`initial JS gzip: ${(gzip / 1024).toFixed(1)} KB in ${files.length} files`);
    console.log(`core dictionary gzip: ${((dictionary?.gzip ?? 0) / 1024).toFixed(1)} KB`);
    expect(dictionary?.gzip ?? 0).toBeGreaterThan(0);
    expect(firstVisit).toBeLessThan(FIRST_VISIT_BUDGET);
  });

  it('renders 60 gallery thumbnails without layout shift', async () => {
    const signUp = await mutate('auth.signUp', { email: 'gallery@example.com', password: PASSWORD });
    const session = signUp.headers
      .getSetCookie()
      .map((c) => c.split(';')[0] ?? '')
      .find((c) => c.startsWith('df_session='));
    expect(session).toBeTruthy();
    const cookie = session as string;
    for (let batch = 0; batch < 15; batch += 5) {
      await Promise.all(
        Array.from({ length: 5 }, (_, i) =>
          mutate(
            'ai.generateImage',
            { prompt: `Thumbnail study ${batch + i}`, n: 4, size: '512x512' },
            cookie,
          ),
        ),
      );
    }

    const context = await browser.newContext({ viewport: DESKTOP, locale: 'en-US' });
    const [name, value] = cookie.split('=') as [string, string];
    await context.addCookies([{ name, value, url: server.url }]);
    await context.addInitScript(() => {
      const w = window as unknown as { __cls: number };
      w.__cls = 0;
      new PerformanceObserver((list) => {
        for (const entry of list.getEntries() as unknown as { value: number; hadRecentInput: boolean }[]) {
          if (!entry.hadRecentInput) w.__cls += entry.value;
        }
      }).observe({ type: 'layout-shift', buffered: true });
    });
    const page = await context.newPage();
    try {
      await page.goto(`${server.url}/gallery`);
      await expect.poll(() => page.getByTestId('gallery-item').count(), { timeout: 30_000 }).toBe(60);
      // Scroll through so every lazy thumbnail loads, then wait for all of them.
      for (let y = 0; y < 6000; y += 400) {
        await page.mouse.wheel(0, 400);
        await page.waitForTimeout(50);
      }
      await page.waitForFunction(
        () =>
          [...document.querySelectorAll<HTMLImageElement>('[data-testid=gallery-item] img')].every(
            (img) => img.complete && img.naturalWidth > 0,
          ),
        undefined,
        { timeout: 30_000 },
      );
      const cls = await page.evaluate(() => (window as unknown as { __cls: number }).__cls);
      console.log(`gallery CLS with 60 thumbnails: ${cls.toFixed(4)}`);
      expect(cls).toBeLessThan(0.01);
      await page.evaluate(() => window.scrollTo(0, 0));
      await shoot(page, 'gallery-60');
    } finally {
      await context.close();
    }
  });
});
