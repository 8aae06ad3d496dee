// Shared e2e plumbing: build the SPA once, run the real server on SQLite with the demo provider, drive Chromium.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';

export const ROOT = path.resolve(import.meta.dirname, '..');
export const SCREENSHOTS = path.join(ROOT, 'artifacts', 'screenshots');
export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 375, height: 812 };
/** The phone an outside audit used (390×844). */
export const PHONE_390 = { width: 390, height: 844 };
export const ADMIN_EMAIL = 'admin@example.com';
export const PASSWORD = 'correct horse battery';

/**
 * Builds the SPA when dist/client is missing (CI builds before the tests; a dev run may not have). Always a
 * production build: vitest runs with NODE_ENV=test, which would make Vite bundle React's development build.
 */
export function ensureBuilt() {
  if (fs.existsSync(path.join(ROOT, 'dist', 'client', 'index.html'))) return;
  execFileSync('npx', ['vite', 'build'], {
    cwd: ROOT,
    stdio: 'inherit',
    env: { ...process.env, NODE_ENV: 'production' },
  });
}

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });

export interface RunningServer {
  url: string;
  dataDir: string;
  stop: () => Promise<void>;
  logs: () => string;
}

/** Starts `node --import tsx server/index.ts` on a free port and a fresh DATA_DIR; resolves once /healthz answers. */
export async function startServer(env: Record<string, string> = {}): Promise<RunningServer> {
  const port = await freePort();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'df-e2e-'));
  let output = '';
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', 'server/index.ts'], {
    cwd: ROOT,
    env: {
      ...process.env,
      PORT: String(port),
      HOST: '127.0.0.1',
      DATA_DIR: dataDir,
      DEMO_DELAY_MS: '1500',
      ADMIN_EMAILS: ADMIN_EMAIL,
      // The browser tests sign up several accounts from 127.0.0.1.
      SIGNUPS_PER_IP_PER_HOUR: '0',
      LOG_LEVEL: 'warn',
      DATABASE_URL: '',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (chunk) => {
    output += chunk;
  });
  child.stderr?.on('data', (chunk) => {
    output += chunk;
  });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`server exited (${child.exitCode}):\n${output}`);
    try {
      const res = await fetch(`${url}/healthz`);
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`server did not become healthy:\n${output}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    url,
    dataDir,
    logs: () => output,
    stop: async () => {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
        if (child.exitCode === null) child.kill('SIGKILL');
      }
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/**
 * Whether Debian's Chromium is here. Under CI it must be (.ci/run installs it); on a laptop without it
 * the browser tests are skipped with a one-line notice.
 */
export const browserAvailable = fs.existsSync(CHROMIUM);
if (!browserAvailable) {
  if (process.env.CI === 'true') throw new Error(`CI=true but Chromium is missing at ${CHROMIUM}`);
  console.warn(
    `[e2e] Chromium not found at ${CHROMIUM} (apt-get install chromium): browser tests are skipped.`,
  );
}

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--autoplay-policy=no-user-gesture-required',
    ],
  });
}

/** Saves the UI language and reloads, as the language switch does. */
export async function setLocale(page: Page, locale: 'en' | 'zh-CN') {
  await page.evaluate((l) => localStorage.setItem('df.locale', l), locale);
  await page.reload();
}

/** A test file's server and browser, with one page at `viewport`; `close` ends both. */
export async function openSession(
  viewport: { width: number; height: number },
  env: Record<string, string> = {},
) {
  ensureBuilt();
  const [server, browser] = await Promise.all([startServer(env), launchBrowser()]);
  const context = await browser.newContext({ viewport, locale: 'en-US' });
  const page = await context.newPage();
  return {
    server,
    browser,
    context,
    page,
    close: async () => {
      await browser.close();
      await server.stop();
    },
  };
}

/**
 * How long a full-page screenshot may wait for the compositor: long when the server tests run beside it on
 * two vCPUs (one stalled 30 s in CI). A slow screenshot is not a defect of the page.
 */
const SCREENSHOT_TIMEOUT_MS = 80_000;

/**
 * Saves the page at desktop and at phone width (artifacts/screenshots/NAME-desktop.png, NAME-phone.png), and
 * fails when the phone layout scrolls sideways.
 */
export async function shoot(page: Page, name: string) {
  fs.mkdirSync(SCREENSHOTS, { recursive: true });
  const original = page.viewportSize() ?? DESKTOP;
  await page.setViewportSize(DESKTOP);
  await page.waitForTimeout(150);
  await page.screenshot({
    path: path.join(SCREENSHOTS, `${name}-desktop.png`),
    fullPage: true,
    timeout: SCREENSHOT_TIMEOUT_MS,
  });
  await page.setViewportSize(PHONE);
  await page.waitForTimeout(150);
  // A page wider than the phone would scroll sideways: that is a layout bug at 375px.
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  const culprits =
    overflow > 0
      ? await page.evaluate(() =>
          [...document.querySelectorAll('body *')]
            .filter((el) => el.getBoundingClientRect().right > window.innerWidth + 1)
            .slice(-4)
            .map((el) => `${el.tagName.toLowerCase()}.${[...el.classList].join('.')}`),
        )
      : [];
  await page.screenshot({
    path: path.join(SCREENSHOTS, `${name}-phone.png`),
    fullPage: true,
    timeout: SCREENSHOT_TIMEOUT_MS,
  });
  await page.setViewportSize(original);
  if (overflow > 0)
    throw new Error(`${name}: the page is ${overflow}px wider than a 375px phone (${culprits.join(', ')})`);
}

/** Signs up through the UI and waits for the Create page. */
export async function signUpInUi(page: Page, baseUrl: string, email: string) {
  await page.goto(`${baseUrl}/signup`);
  await page.getByLabel(/email|邮箱/i).fill(email);
  await page.getByLabel(/password|密码/i).fill(PASSWORD);
  await page.locator('form button[type=submit]').click();
  await page.waitForURL(/\/create/, { timeout: 30_000 });
  await page.getByTestId('header-balance').waitFor({ timeout: 30_000 });
}

export const headerBalance = async (page: Page) =>
  Number(((await page.getByTestId('header-balance').textContent()) ?? '').replace(/[^\d]/g, ''));

const AXE = path.join(ROOT, 'node_modules', 'axe-core', 'axe.min.js');

/**
 * Runs axe-core (WCAG 2.x A/AA and 2.2 AA, best practices) on the page as it is; returns every violation,
 * whatever its impact (an outside audit counts the moderate and minor ones too).
 */
export async function axeViolations(page: Page) {
  // Evaluated through the DevTools protocol, which the page's CSP (script-src 'self') does not govern.
  if (!(await page.evaluate(() => 'axe' in window)))
    await page.evaluate(`${fs.readFileSync(AXE, 'utf8')}\n;0`);
  return page.evaluate(async () => {
    const axe = (window as unknown as { axe: { run: (ctx: unknown, opts: unknown) => Promise<unknown> } })
      .axe;
    const result = (await axe.run(document, {
      runOnly: {
        type: 'tag',
        values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice'],
      },
      resultTypes: ['violations'],
    })) as {
      violations: { id: string; impact: string; nodes: { target: string[]; failureSummary?: string }[] }[];
    };
    return result.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      nodes: v.nodes.slice(0, 3).map((n) => `${n.target.join(' ')} ${n.failureSummary ?? ''}`),
    }));
  });
}

/** The serious and critical violations of axeViolations. */
export async function axeSerious(page: Page) {
  return (await axeViolations(page)).filter((v) => v.impact === 'serious' || v.impact === 'critical');
}

/**
 * Visible sentences in Latin script: three or more Latin words in a row. Text the user typed (prompts,
 * emails) is removed first; model ids in <code> and numbers do not count.
 */
export async function latinSentences(page: Page, allowed: string[] = []) {
  // The rendered text (innerText), which is what a reader sees: textContent also holds hidden nodes.
  const { text, codes } = await page.evaluate(() => ({
    // biome-ignore lint/performance/useDomNodeTextContent: the rendered text is the point
    text: `${document.body.innerText}\n${document.title}`,
    // biome-ignore lint/performance/useDomNodeTextContent: the rendered text is the point
    codes: [...document.querySelectorAll('code')].map((node) => (node as HTMLElement).innerText),
  }));
  let rest = text;
  for (const phrase of [...allowed, ...codes].sort((a, b) => b.length - a.length))
    if (phrase) rest = rest.split(phrase).join(' ');
  rest = rest.replace(/[\w.+-]+@[\w.-]+\.\w+/g, ' ');
  return [...rest.matchAll(/[A-Za-z]{2,}(?:[ ,'’:-]+[A-Za-z]{2,}){2,}/g)].map((m) => m[0]);
}

/** Calls a tRPC query with the page's cookies; returns the `json` of the result. */
export async function apiQuery<T>(page: Page, baseUrl: string, pathName: string, input: unknown): Promise<T> {
  const res = await page.request.get(
    `${baseUrl}/trpc/${pathName}?input=${encodeURIComponent(JSON.stringify({ json: input }))}`,
  );
  if (!res.ok()) throw new Error(`${pathName}: ${res.status()} ${await res.text()}`);
  return ((await res.json()) as { result: { data: { json: T } } }).result.data.json;
}

/** Calls a tRPC mutation with the page's cookies. */
export async function apiMutate<T>(
  page: Page,
  baseUrl: string,
  pathName: string,
  input: unknown,
): Promise<T> {
  const res = await page.request.post(`${baseUrl}/trpc/${pathName}`, { data: { json: input } });
  if (!res.ok()) throw new Error(`${pathName}: ${res.status()} ${await res.text()}`);
  return ((await res.json()) as { result: { data: { json: T } } }).result.data.json;
}
