import { createContext, type ReactNode, useCallback, useContext, useEffect, useMemo, useState } from 'react';
import type { Dictionary, MessageKey } from './en.ts';

export type Locale = 'zh-CN' | 'en';
export const LOCALES: readonly { id: Locale; label: string }[] = [
  { id: 'zh-CN', label: '中文' },
  { id: 'en', label: 'English' },
];
/**
 * Each dictionary is its own chunk and only the active one is fetched (before the first render, see
 * main.tsx): the other language never costs a byte until the user switches to it.
 */
const loaders: Record<Locale, () => Promise<Dictionary>> = {
  'zh-CN': () => import('./zh-CN.ts').then((m) => m.zhCN),
  en: () => import('./en.ts').then((m) => m.en),
};
const DICTIONARIES: Partial<Record<Locale, Dictionary>> = {};

/** Fetches a language's dictionary once; resolves when `translate` can use it. */
export async function loadLocale(locale: Locale): Promise<void> {
  DICTIONARIES[locale] ??= await loaders[locale]();
}

/** Whether a key exists (e.g. `reason.EMAIL_TAKEN`); every dictionary has the same keys (a test checks). */
export const hasMessage = (key: string): key is MessageKey =>
  Object.values(DICTIONARIES).some((dictionary) => Object.hasOwn(dictionary, key));
export const LOCALE_STORAGE_KEY = 'df.locale';

/** The saved choice, else the browser's first language we speak (any zh → zh-CN), else English. */
export function detectLocale(
  saved: string | null,
  languages: readonly string[] = typeof navigator === 'undefined' ? [] : navigator.languages,
): Locale {
  if (saved === 'zh-CN' || saved === 'en') return saved;
  for (const lang of languages) {
    const lower = lang.toLowerCase();
    if (lower.startsWith('zh')) return 'zh-CN';
    if (lower.startsWith('en')) return 'en';
  }
  return 'en';
}

export type Translate = (key: MessageKey, vars?: Record<string, string | number>) => string;

export const translate = (locale: Locale, key: MessageKey, vars?: Record<string, string | number>) => {
  const template = DICTIONARIES[locale]?.[key] ?? DICTIONARIES.en?.[key] ?? key;
  return vars ? template.replace(/\{(\w+)\}/g, (m, name: string) => String(vars[name] ?? m)) : template;
};

interface I18nValue {
  locale: Locale;
  setLocale: (locale: Locale) => void;
  t: Translate;
}

const I18nContext = createContext<I18nValue | null>(null);

export const readSaved = () => {
  try {
    return localStorage.getItem(LOCALE_STORAGE_KEY);
  } catch {
    return null;
  }
};

export function I18nProvider({ children, initial }: { children: ReactNode; initial?: Locale }) {
  const [locale, setLocaleState] = useState<Locale>(() => initial ?? detectLocale(readSaved()));
  const setLocale = useCallback((next: Locale) => {
    void loadLocale(next).then(() => setLocaleState(next));
    try {
      localStorage.setItem(LOCALE_STORAGE_KEY, next);
    } catch {
      // Private mode: the choice lasts for this page only.
    }
  }, []);
  useEffect(() => {
    document.documentElement.lang = locale;
  }, [locale]);
  const value = useMemo<I18nValue>(
    () => ({ locale, setLocale, t: (key, vars) => translate(locale, key, vars) }),
    [locale, setLocale],
  );
  return <I18nContext value={value}>{children}</I18nContext>;
}

export function useI18n(): I18nValue {
  const value = useContext(I18nContext);
  if (!value) throw new Error('useI18n outside I18nProvider');
  return value;
}

export type { MessageKey };

/** Sets document.title to "<page> · <app name>" in the current language (each page calls it once). */
export function usePageTitle(page: string) {
  const { t } = useI18n();
  const app = t('app.name');
  useEffect(() => {
    document.title = page ? `${page} · ${app}` : app;
  }, [page, app]);
}
