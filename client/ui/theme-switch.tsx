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

export function ThemeSwitch() {
  const { t } = useI18n();
  const [theme, setTheme] = useState<Theme>(savedTheme);
  return (
    <label className="lang-switch">
      <span className="sr-only">{t('theme.label')}</span>
      <select
        value={theme}
        aria-label={t('theme.label')}
        data-testid="theme-switch"
        onChange={(event) => {
          const next = event.target.value as Theme;
          setTheme(next);
          applyTheme(next);
          try {
            localStorage.setItem(THEME_KEY, next);
          } catch {
            // Private mode: the choice lasts for this page only.
          }
        }}
      >
        {(['system', 'light', 'dark'] as const).map((value) => (
          <option key={value} value={value}>
            {t(`theme.${value}`)}
          </option>
        ))}
      </select>
    </label>
  );
}
