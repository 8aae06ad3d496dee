// `node scripts/run.mjs <entry> [args]` for the operational CLIs (db:migrate, db:status, sweep): runs
// dist/<entry>.js when the build is fresh (or the only choice), else <entry>.ts through tsx. Never builds.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { buildState, DIST, ROOT, runEntry } from './launcher.mjs';

const [entry, ...args] = process.argv.slice(2);
if (!entry) {
  console.error('usage: node scripts/run.mjs <entry without extension> [args]');
  process.exit(2);
}
const built = path.join(DIST, `${entry}.js`);
const source = path.join(ROOT, `${entry}.ts`);
const require = createRequire(path.join(ROOT, 'package.json'));
let tsx = null;
try {
  tsx = require.resolve('tsx/esm/api');
} catch {}

if (fs.existsSync(built) && (buildState() === 'fresh' || !tsx)) {
  await runEntry(built, args);
} else if (tsx) {
  const { register } = await import(pathToFileURL(tsx).href);
  register();
  await runEntry(source, args);
} else {
  console.error(
    `${entry}: not built and tsx is not installed: run \`npm run build\` (with dev dependencies) first`,
  );
  process.exit(1);
}
