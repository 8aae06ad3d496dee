import { apiMutate, axeSerious, DESKTOP, launchBrowser, PASSWORD, PHONE, signUpInUi, startServer, ADMIN_EMAIL } from '../e2e/harness.ts';
const server = await startServer({ SIGNUP_BONUS_CREDITS: '200', DEMO_DELAY_MS: '100' });
const browser = await launchBrowser();
try {
  const ctx = await browser.newContext({ viewport: DESKTOP });
  const page = await ctx.newPage();
  await signUpInUi(page, server.url, ADMIN_EMAIL);
  await apiMutate(page, server.url, 'ai.generateImage', { prompt: 'a lantern', size: '512x512' });
  await apiMutate(page, server.url, 'ai.generateImage', { prompt: 'fail [demo:fail]' }).catch(() => {});
  await apiMutate(page, server.url, 'ai.generateVideo', { prompt: 'sea', durationSeconds: 2 });
  await new Promise((r) => setTimeout(r, 4000));
  const vctx = await browser.newContext({ viewport: DESKTOP });
  const v = await vctx.newPage();
  const pages = process.argv.slice(2).length ? process.argv.slice(2) : ['/signin', '/create', '/gallery', '/credits', '/tokens', '/admin/users', '/admin/codes', '/admin/jobs'];
  for (const url of pages) {
    const p = url === '/signin' || url === '/signup' ? v : page;
    for (const locale of ['en', 'zh-CN']) {
      for (const theme of ['light', 'dark'] as const) {
        await p.emulateMedia({ colorScheme: theme });
        await p.goto(`${server.url}${url}`);
        await p.evaluate((l) => localStorage.setItem('df.locale', l), locale);
        await p.goto(`${server.url}${url}`);
        await p.waitForTimeout(1500);
        for (const [w, vp] of [['desktop', DESKTOP], ['phone', PHONE]] as const) {
          await p.setViewportSize(vp);
          await p.waitForTimeout(100);
          const t0 = Date.now();
          for (const x of await axeSerious(p)) console.log(url, locale, theme, w, x.id, x.nodes.join(' | '));
          console.log('axe', url, locale, theme, w, Date.now() - t0, 'ms');
        }
      }
    }
  }
} finally {
  await browser.close();
  await server.stop();
}
