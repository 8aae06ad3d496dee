// `node scripts/run.mjs <entry> [args]` for the operational CLIs (db:migrate, db:status, sweep): runs
// dist/<entry>.js when the build is fresh (or the only choice), else <entry>.ts through tsx. Never builds.
import fs from 'node:fs';
import path from 'node:path';
import { buildState, DIST, ROOT, runEntry } from './launcher.mjs';

const [entry, ...args] = process.argv.slice(2);
if (!entry) {
  console.error('usage: node scripts/run.mjs <entry without extension> [args]');
  process.exit(2);
}
const built = path.join(DIST, `${entry}.js`);
const source = path.join(ROOT, `${entry}.ts`);
/** tsx's loader when the dev dependencies are installed, else null. */
const loadTsx = () => import('tsx/esm/api').catch(() => null);

if (fs.existsSync(built) && buildState() === 'fresh') {
  await runEntry(built, args);
} else {
  const tsx = fs.existsSync(source) ? await loadTsx() : null;
  if (tsx) {
    tsx.register();
    await runEntry(source, args);
  } else if (fs.existsSync(built)) {
    // A production install after `git pull` without a rebuild: say so, as `npm start` does, since an old
    // build's db:migrate knows fewer migrations and would call the database up to date.
    if (buildState() === 'stale')
      console.error(
        `${entry}: sources are newer than dist/ but the build tools are not installed; running the existing build`,
      );
    await runEntry(built, args);
  } else {
    console.error(
      `${entry}: not built and tsx is not installed: run \`npm run build\` (with dev dependencies) first`,
    );
    process.exit(1);
  }
}
