import { QueryClientProvider } from '@tanstack/react-query';
import { StrictMode, useState } from 'react';
import { createRoot } from 'react-dom/client';
import { BrowserRouter } from 'react-router';
import { App } from './app.tsx';
import { detectLocale, I18nProvider, type Locale, loadLocale, readSaved } from './i18n/index.tsx';
import { makeQueryClient, makeTrpcClient, TRPCProvider } from './lib/trpc.ts';
import { applyTheme, savedTheme } from './ui/theme-switch.tsx';
import './styles.css';

applyTheme(savedTheme());

function Root({ locale }: { locale: Locale }) {
  const [queryClient] = useState(makeQueryClient);
  const [trpcClient] = useState(() => makeTrpcClient());
  return (
    <StrictMode>
      <QueryClientProvider client={queryClient}>
        <TRPCProvider trpcClient={trpcClient} queryClient={queryClient}>
          <I18nProvider initial={locale}>
            <BrowserRouter>
              <App />
            </BrowserRouter>
          </I18nProvider>
        </TRPCProvider>
      </QueryClientProvider>
    </StrictMode>
  );
}

const container = document.getElementById('root');
if (!container) throw new Error('#root is missing from index.html');
// The active language's dictionary (its own small chunk) is fetched before the first render.
const locale = detectLocale(readSaved());
void loadLocale(locale).then(() => createRoot(container).render(<Root locale={locale} />));
