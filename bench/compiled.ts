// A benchmark that runs this repo's code in-process should run it as the product does: `npm start` runs
// what tsc compiled, not tsx's on-the-fly build (which wraps every named function and closure in a
// `__name` call, a property write each time a closure is made). `runCompiled` compiles the server, the
// test helpers and the benchmarks with the build's compiler options (bench/tsconfig.build.json, into
// node_modules/.cache/bench-build) and runs the entry's compiled module in a child node process.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const OUT = path.join(ROOT, 'node_modules/.cache/bench-build');

/** Compiles, then runs `entry` (a .ts path relative to the repo) compiled with `args`; exits with its code. */
export function runCompiled(entry: string, args: string[]): never {
  const tsc = path.join(
    path.dirname(createRequire(import.meta.url).resolve('typescript/package.json')),
    'bin/tsc',
  );
  const started = Date.now();
  const build = spawnSync(process.execPath, [tsc, '-p', path.join(ROOT, 'bench/tsconfig.build.json')], {
    cwd: ROOT,
    stdio: 'inherit',
  });
  if (build.status !== 0) {
    console.error('bench: compiling failed');
    process.exit(build.status ?? 1);
  }
  console.error(`bench: compiled in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  const compiled = path.join(OUT, entry.replace(/\.ts$/, '.js'));
  const run = spawnSync(process.execPath, [compiled, ...args], { cwd: ROOT, stdio: 'inherit' });
  process.exit(run.status ?? 1);
}
