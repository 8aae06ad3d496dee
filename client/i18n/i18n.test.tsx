import fs from 'node:fs';
import path from 'node:path';
import { act, cleanup, render, screen } from '@testing-library/react';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  detectLocale,
  I18nProvider,
  LOCALE_STORAGE_KEY,
  loadLocale,
  loadMessages,
  MESSAGE_PARTS,
  type MessagePart,
  translate,
  useI18n,
} from './index.tsx';

const modules = import.meta.glob<{ messages: Record<string, string> }>('./messages/*.ts', { eager: true });
const part = (name: MessagePart, locale: 'en' | 'zh-CN') =>
  modules[`./messages/${name}.${locale}.ts`]!.messages;

/** The part each feature folder's pages load with them (app.tsx); other files see only core. */
const FOLDER_PART: Record<string, MessagePart> = {
  create: 'create',
  gallery: 'gallery',
  credits: 'credits',
  tokens: 'tokens',
  admin: 'admin',
  account: 'account',
  auth: 'account',
};

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const file = path.join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'i18n' ? [] : sourceFiles(file);
    return /\.tsx?$/.test(entry.name) && !entry.name.includes('.test.') ? [file] : [];
  });
}

function Probe() {
  const { t, setLocale } = useI18n();
  return (
    <button type="button" onClick={() => setLocale('zh-CN')}>
      {t('create.generate', { n: 4 })}
    </button>
  );
}

describe('i18n', () => {
  beforeAll(async () => {
    await Promise.all([loadLocale('en'), loadLocale('zh-CN')]);
    await loadMessages(...MESSAGE_PARTS);
  });
  afterEach(() => {
    cleanup();
    localStorage.clear();
  });

  it('has the same keys in both languages, with the same placeholders, each key in one part', () => {
    const vars = (s: string) => [...s.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
    const seen = new Map<string, MessagePart>();
    for (const name of MESSAGE_PARTS) {
      const en = part(name, 'en');
      const zhCN = part(name, 'zh-CN');
      expect(Object.keys(zhCN).sort(), name).toEqual(Object.keys(en).sort());
      for (const [key, text] of Object.entries(en)) {
        expect(vars(zhCN[key] ?? ''), key).toEqual(vars(text));
        expect(seen.get(key), `${key} is in ${seen.get(key)} and ${name}`).toBeUndefined();
        seen.set(key, name);
      }
    }
  });

  it('has every string a page shows in core or in the part loaded with the page', () => {
    const partOf = new Map(
      MESSAGE_PARTS.flatMap((name) => Object.keys(part(name, 'en')).map((key) => [key, name] as const)),
    );
    const client = path.resolve(import.meta.dirname, '..');
    const misplaced: string[] = [];
    for (const file of sourceFiles(client)) {
      const relative = path.relative(client, file);
      const folder = relative.match(/^features\/([\w-]+)\//)?.[1] ?? '';
      const allowed = new Set<MessagePart>(['core', ...(FOLDER_PART[folder] ? [FOLDER_PART[folder]] : [])]);
      const source = fs.readFileSync(file, 'utf8');
      const literal = [...source.matchAll(/['`]([\w.]+)['`]/g)]
        .map((m) => m[1]!)
        .filter((k) => partOf.has(k));
      // `reason.${code}`: every key under the prefix must be reachable.
      const prefixes = [...source.matchAll(/`([\w.]+\.)\$\{/g)].map((m) => m[1]!);
      const dynamic = [...partOf.keys()].filter((k) => prefixes.some((prefix) => k.startsWith(prefix)));
      for (const key of new Set([...literal, ...dynamic])) {
        const where = partOf.get(key)!;
        if (!allowed.has(where)) misplaced.push(`${relative}: ${key} (in ${where})`);
      }
    }
    expect(misplaced).toEqual([]);
  });

  it('prefers the saved choice, then the browser language', () => {
    expect(detectLocale('en', ['zh-CN'])).toBe('en');
    expect(detectLocale(null, ['zh-TW', 'en'])).toBe('zh-CN');
    expect(detectLocale(null, ['fr-FR', 'en-GB'])).toBe('en');
    expect(detectLocale(null, ['fr-FR'])).toBe('en');
  });

  it('fills placeholders', () => {
    expect(translate('en', 'create.generate', { n: 12 })).toBe('Generate · 12 credits');
    expect(translate('zh-CN', 'create.generate', { n: 12 })).toBe('生成 · 12 积分');
  });

  it('switches language live and remembers it', async () => {
    render(
      <I18nProvider initial="en">
        <Probe />
      </I18nProvider>,
    );
    const button = screen.getByRole('button');
    expect(button.textContent).toBe('Generate · 4 credits');
    await act(async () => button.click());
    expect(button.textContent).toBe('生成 · 4 积分');
    expect(localStorage.getItem(LOCALE_STORAGE_KEY)).toBe('zh-CN');
    expect(document.documentElement.lang).toBe('zh-CN');
  });
});
