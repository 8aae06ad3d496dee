// Plain JavaScript (no tsx, no TypeScript) so it runs on a production install: finds out whether dist/ is
// built and fresh, builds when the build tools are installed, and runs an entry point in this process.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const DIST = path.join(ROOT, 'dist');
/** Written by the build after it succeeds; its mtime is the build's time. */
export const STAMP = path.join(DIST, '.build-stamp');

/** What the build reads: a change to any of these makes dist/ stale. */
const SOURCES = [
  'client',
  'server',
  'shared',
  'db',
  'package.json',
  'tsconfig.json',
  'tsconfig.build.json',
  'vite.config.ts',
];

const newestMtime = (entry) => {
  const full = path.join(ROOT, entry);
  let info;
  try {
    info = fs.statSync(full);
  } catch {
    return 0;
  }
  if (!info.isDirectory()) return info.mtimeMs;
  let newest = info.mtimeMs;
  for (const name of fs.readdirSync(full)) {
    if (name === 'node_modules') continue;
    newest = Math.max(newest, newestMtime(path.join(entry, name)));
  }
  return newest;
};

/** 'missing' (no build), 'stale' (a source is newer than the stamp) or 'fresh'. */
export function buildState() {
  let stamp;
  try {
    stamp = fs.statSync(STAMP).mtimeMs;
  } catch {
    return 'missing';
  }
  return SOURCES.some((s) => newestMtime(s) > stamp) ? 'stale' : 'fresh';
}

const require = createRequire(path.join(ROOT, 'package.json'));
const resolvable = (id) => {
  try {
    return require.resolve(id);
  } catch {
    return null;
  }
};

/** Whether the build tools (dev dependencies) are installed. */
export const canBuild = () =>
  resolvable('vite/package.json') !== null && resolvable('typescript/package.json') !== null;

/** Runs `npm run build`'s steps; exits the process when a step fails. */
export function build() {
  const tool = (id, bin) => path.join(path.dirname(require.resolve(`${id}/package.json`)), bin);
  const steps = [
    ['client (vite)', [tool('vite', 'bin/vite.js'), 'build', '--logLevel', 'warn']],
    ['server (tsc)', [tool('typescript', 'bin/tsc'), '-p', 'tsconfig.build.json']],
  ];
  for (const dir of ['server', 'shared', 'db'])
    fs.rmSync(path.join(DIST, dir), { recursive: true, force: true });
  fs.rmSync(STAMP, { force: true });
  for (const [name, args] of steps) {
    const started = Date.now();
    // A production bundle whatever the caller's NODE_ENV (vitest sets `test`, which makes vite bundle
    // React's development build).
    const env = { ...process.env, NODE_ENV: 'production' };
    const result = spawnSync(process.execPath, args, { cwd: ROOT, stdio: 'inherit', env });
    if (result.status !== 0) {
      console.error(`build: ${name} failed`);
      process.exit(result.status ?? 1);
    }
    console.error(`build: ${name} done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }
  fs.writeFileSync(STAMP, `${new Date().toISOString()}\n`);
}

/** Imports an entry point in this process, as if node had been started on it (process.argv included). */
export async function runEntry(file, args) {
  process.argv = [process.argv[0], file, ...args];
  await import(pathToFileURL(file).href);
}
