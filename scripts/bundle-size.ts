// Prints the initial JS of the built SPA (the entry script and the chunks it preloads), gzip-compressed.
// Budget: 200 KB gzip. Usage: `npx vite build && npx tsx scripts/bundle-size.ts` (exit 1 over budget).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

export const INITIAL_JS_BUDGET = 200 * 1024;

export function initialJs(distDir: string) {
  const html = fs.readFileSync(path.join(distDir, 'index.html'), 'utf8');
  const refs = [
    ...html.matchAll(/<script[^>]+type="module"[^>]+src="([^"]+)"/g),
    ...html.matchAll(/<link[^>]+rel="modulepreload"[^>]+href="([^"]+)"/g),
  ].map((m) => m[1] as string);
  const files = [...new Set(refs)].map((ref) => {
    const bytes = fs.readFileSync(path.join(distDir, ref.replace(/^\//, '')));
    return { file: ref, raw: bytes.length, gzip: gzipSync(bytes, { level: 9 }).length };
  });
  return {
    files,
    gzip: files.reduce((sum, f) => sum + f.gzip, 0),
    raw: files.reduce((sum, f) => sum + f.raw, 0),
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const dist = path.resolve(import.meta.dirname, '..', 'dist', 'client');
  const { files, gzip, raw } = initialJs(dist);
  for (const f of files)
    console.log(`${f.file}  ${(f.raw / 1024).toFixed(1)} KB  gzip ${(f.gzip / 1024).toFixed(1)} KB`);
  console.log(
    `initial JS: ${(raw / 1024).toFixed(1)} KB, gzip ${(gzip / 1024).toFixed(1)} KB (budget ${INITIAL_JS_BUDGET / 1024} KB)`,
  );
  if (gzip > INITIAL_JS_BUDGET) process.exitCode = 1;
}
