import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Worker, type WorkerOptions } from 'node:worker_threads';

/**
 * Where a worker script named `name` is, next to the module at `moduleUrl`: `name.js` when the server runs
 * compiled (tsc → dist/), `name.ts` when it runs from source under tsx.
 */
export function workerEntry(moduleUrl: string, name: string): { url: URL; fromSource: boolean } {
  const fromSource = new URL(moduleUrl).pathname.endsWith('.ts');
  return { url: new URL(`./${name}.${fromSource ? 'ts' : 'js'}`, moduleUrl), fromSource };
}

/**
 * Starts the worker script `name` next to `moduleUrl` on a thread. A worker thread does not inherit tsx's
 * loader, so from source it boots through tsx's `tsImport`.
 */
export function startWorker(moduleUrl: string, name: string, options: WorkerOptions = {}): Worker {
  const { url, fromSource } = workerEntry(moduleUrl, name);
  if (!fromSource) return new Worker(url, options);
  // The ESM build of tsx's API (require.resolve finds its CommonJS twin next to it).
  const api = createRequire(import.meta.url)
    .resolve('tsx/esm/api')
    .replace(/\.cjs$/, '.mjs');
  const tsx = pathToFileURL(api).href;
  const boot = `import(${JSON.stringify(tsx)}).then((api) => api.tsImport(${JSON.stringify(url.href)}, ${JSON.stringify(url.href)}));`;
  return new Worker(boot, { ...options, eval: true });
}
