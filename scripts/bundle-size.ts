// Prints the initial JS of the built SPA, gzip-compressed: the entry script and the chunks it preloads
// (budget 120 KB), and beside it the larger of the two language dictionaries, which a first visit also
// fetches before rendering (only the active one; budget 8 KB).
// Usage: `NODE_ENV=production npx vite build && npx tsx scripts/bundle-size.ts` (exit 1 over budget).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

export const INITIAL_JS_BUDGET = 120 * 1024;
export const DICTIONARY_BUDGET = 8 * 1024;

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
  const dictionaries = fs
    .readdirSync(path.join(distDir, 'assets'))
    .filter((name) => /^(en|zh-CN)-[\w-]+\.js$/.test(name))
    .map((name) => measure(`/assets/${name}`))
    .sort((a, b) => b.gzip - a.gzip);
  const files = [...new Set(refs)].map(measure);
  return {
    files,
    gzip: files.reduce((sum, f) => sum + f.gzip, 0),
    raw: files.reduce((sum, f) => sum + f.raw, 0),
    dictionary: dictionaries[0],
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const dist = path.resolve(import.meta.dirname, '..', 'dist', 'client');
  const { files, gzip, raw, dictionary } = initialJs(dist);
  for (const f of files)
    console.log(`${f.file}  ${(f.raw / 1024).toFixed(1)} KB  gzip ${(f.gzip / 1024).toFixed(1)} KB`);
  console.log(
    `initial JS: ${(raw / 1024).toFixed(1)} KB, gzip ${(gzip / 1024).toFixed(1)} KB (budget ${INITIAL_JS_BUDGET / 1024} KB)`,
  );
  const dict = dictionary?.gzip ?? 0;
  console.log(
    `+ language dictionary ${dictionary?.file ?? '(none)'}: gzip ${(dict / 1024).toFixed(1)} KB (budget ${DICTIONARY_BUDGET / 1024} KB); first visit ${((gzip + dict) / 1024).toFixed(1)} KB`,
  );
  if (gzip > INITIAL_JS_BUDGET || dict > DICTIONARY_BUDGET) process.exitCode = 1;
}
