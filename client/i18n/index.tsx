import { createContext, type ReactNode, useCallback, useContext, useEffect, useMemo, useState } from 'react';

export type Locale = 'zh-CN' | 'en';
export const LOCALES: readonly { id: Locale; label: string }[] = [
  { id: 'zh-CN', label: '中文' },
  { id: 'en', label: 'English' },
];

/**
 * The strings come in parts, one chunk per part and language; only the active language is fetched. `core`
 * (the shell, shared words, every error explanation) is fetched before the first render (main.tsx); each
 * other part with the pages that use it (lazyPage in app.tsx), so a page never shows a missing string.
 * A key used by the pages of one part lives in that part, a key used more widely in core (a test checks).
 */
const PARTS = {
  core: { en: () => import('./messages/core.en.ts'), 'zh-CN': () => import('./messages/core.zh-CN.ts') },
  create: {
    en: () => import('./messages/create.en.ts'),
    'zh-CN': () => import('./messages/create.zh-CN.ts'),
  },
  gallery: {
    en: () => import('./messages/gallery.en.ts'),
    'zh-CN': () => import('./messages/gallery.zh-CN.ts'),
  },
  credits: {
    en: () => import('./messages/credits.en.ts'),
    'zh-CN': () => import('./messages/credits.zh-CN.ts'),
  },
  tokens: {
    en: () => import('./messages/tokens.en.ts'),
    'zh-CN': () => import('./messages/tokens.zh-CN.ts'),
  },
  admin: { en: () => import('./messages/admin.en.ts'), 'zh-CN': () => import('./messages/admin.zh-CN.ts') },
  account: {
    en: () => import('./messages/account.en.ts'),
    'zh-CN': () => import('./messages/account.zh-CN.ts'),
  },
} satisfies Record<string, Record<Locale, () => Promise<{ messages: Record<string, string> }>>>;

export type MessagePart = keyof typeof PARTS;
export const MESSAGE_PARTS = Object.keys(PARTS) as MessagePart[];
type PartKey<P extends MessagePart> = keyof Awaited<ReturnType<(typeof PARTS)[P]['en']>>['messages'];
export type MessageKey = { [P in MessagePart]: PartKey<P> }[MessagePart];

const DICTIONARIES: Partial<Record<Locale, Partial<Record<MessageKey, string>>>> = {};
const fetched = new Map<string, Promise<void>>();
/** The parts needed so far, and the languages loaded so far (one, until the user switches). */
const neededParts = new Set<MessagePart>(['core']);
const loadedLocales = new Set<Locale>();

function loadPart(locale: Locale, part: MessagePart): Promise<void> {
  const id = `${locale}/${part}`;
  let loading = fetched.get(id);
  if (!loading) {
    loading = PARTS[part][locale]().then(({ messages }) => {
      DICTIONARIES[locale] = { ...DICTIONARIES[locale], ...messages };
    });
    // A failed fetch (offline) is tried again next time.
    loading.catch(() => fetched.delete(id));
    fetched.set(id, loading);
  }
  return loading;
}

/** Fetches a language's core and every part needed so far; resolves when `translate` can use them. */
export async function loadLocale(locale: Locale): Promise<void> {
  loadedLocales.add(locale);
  await Promise.all([...neededParts].map((part) => loadPart(locale, part)));
}

/** Fetches parts of the dictionary, in each language loaded so far (a lazy page's, beside its chunk). */
export async function loadMessages(...parts: MessagePart[]): Promise<void> {
  for (const part of parts) neededParts.add(part);
  await Promise.all([...loadedLocales].flatMap((locale) => parts.map((part) => loadPart(locale, part))));
}

/** Whether a loaded part has the key (e.g. `reason.EMAIL_TAKEN`, in core); both languages have the same keys (a test checks). */
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

/** Sets document.title to "<page> · <app name>" in the current language (each page calls it once). */
export function usePageTitle(page: string) {
  const { t } = useI18n();
  const app = t('app.name');
  useEffect(() => {
    document.title = page ? `${page} · ${app}` : app;
  }, [page, app]);
}
