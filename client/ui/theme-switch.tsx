import { useState } from 'react';
import { useI18n } from '../i18n/index.tsx';

export type Theme = 'system' | 'light' | 'dark';
export const THEME_KEY = 'df.theme';

export function savedTheme(): Theme {
  try {
    const value = localStorage.getItem(THEME_KEY);
    return value === 'light' || value === 'dark' ? value : 'system';
  } catch {
    return 'system';
  }
}

/** "system" leaves it to prefers-color-scheme (styles.css); light or dark pins it with data-theme on <html>. */
export function applyTheme(theme: Theme) {
  const root = document.documentElement;
  if (theme === 'system') delete root.dataset.theme;
  else root.dataset.theme = theme;
}

const ORDER: readonly Theme[] = ['system', 'light', 'dark'];
const ICON: Record<Theme, string> = { system: '◐', light: '☀', dark: '☾' };

/** One small button that cycles system → light → dark; its label says the current choice. */
export function ThemeSwitch() {
  const { t } = useI18n();
  const [theme, setTheme] = useState<Theme>(savedTheme);
  const label = t('theme.current', { choice: t(`theme.${theme}`) });
  return (
    <button
      type="button"
      className="btn btn-ghost btn-sm theme-switch"
      aria-label={label}
      title={label}
      data-testid="theme-switch"
      data-theme-choice={theme}
      onClick={() => {
        const next = ORDER[(ORDER.indexOf(theme) + 1) % ORDER.length] ?? 'system';
        setTheme(next);
        applyTheme(next);
        try {
          localStorage.setItem(THEME_KEY, next);
        } catch {
          // Private mode: the choice lasts for this page only.
        }
      }}
    >
      <span aria-hidden="true">{ICON[theme]}</span>
    </button>
  );
}
