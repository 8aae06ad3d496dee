import { LOCALES, type Locale, useI18n } from '../i18n/index.tsx';

export function LanguageSwitch() {
  const { locale, setLocale, t } = useI18n();
  return (
    <label className="lang-switch">
      <span className="sr-only">{t('nav.language')}</span>
      <select
        value={locale}
        onChange={(event) => setLocale(event.target.value as Locale)}
        data-testid="language-switch"
        aria-label={t('nav.language')}
      >
        {LOCALES.map((l) => (
          // Each name in its own language, so a screen reader says 中文 in Chinese on an English page.
          <option key={l.id} value={l.id} lang={l.id}>
            {l.label}
          </option>
        ))}
      </select>
    </label>
  );
}
