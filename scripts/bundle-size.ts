// Prints what a first visit to the built SPA downloads before its first render, gzip-compressed: the entry
// script and the chunks it preloads, plus the core part of the active language's dictionary (the larger of
// the two languages; the other parts come with the pages that use them). Budget: 120 KB in all.
// Usage: `NODE_ENV=production npx vite build && npx tsx scripts/bundle-size.ts` (exit 1 over budget).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

export const FIRST_VISIT_BUDGET = 120 * 1024;

export function initialJs(distDir: string) {
  const html = fs.readFileSync(path.join(distDir, 'index.html'), 'utf8');
  const refs = [
    ...html.matchAll(/<script[^>]+type="module"[^>]+src="([^"]+)"/g),
    ...html.matchAll(/<link[^>]+rel="modulepreload"[^>]+href="([^"]+)"/g),
  ].map((m) => m[1] as string);
  const measure = (ref: string) => {
    const bytes = fs.readFileSync(path.join(distDir, ref.replace(/^\//, '')));
    return { file: ref, raw: bytes.length, gzip: gzipSync(bytes, { level: 9 }).length };
  };
  // client/i18n/messages/core.<locale>.ts, the part main.tsx fetches before rendering.
  const dictionaries = fs
    .readdirSync(path.join(distDir, 'assets'))
    .filter((name) => /^core\.(en|zh-CN)-[\w-]+\.js$/.test(name))
    .map((name) => measure(`/assets/${name}`))
    .sort((a, b) => b.gzip - a.gzip);
  const files = [...new Set(refs)].map(measure);
  const gzip = files.reduce((sum, f) => sum + f.gzip, 0);
  const dictionary = dictionaries[0];
  return {
    files,
    gzip,
    raw: files.reduce((sum, f) => sum + f.raw, 0),
    dictionary,
    firstVisit: gzip + (dictionary?.gzip ?? 0),
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const dist = path.resolve(import.meta.dirname, '..', 'dist', 'client');
  const { files, gzip, raw, dictionary, firstVisit } = initialJs(dist);
  const kb = (bytes: number) => `${(bytes / 1024).toFixed(1)} KB`;
  for (const f of files) console.log(`${f.file}  ${kb(f.raw)}  gzip ${kb(f.gzip)}`);
  console.log(`initial JS: ${kb(raw)}, gzip ${kb(gzip)}`);
  console.log(`+ dictionary core ${dictionary?.file ?? '(none found)'}: gzip ${kb(dictionary?.gzip ?? 0)}`);
  console.log(`first visit ${kb(firstVisit)} (budget ${FIRST_VISIT_BUDGET / 1024} KB)`);
  if (!dictionary || firstVisit > FIRST_VISIT_BUDGET) process.exitCode = 1;
}
