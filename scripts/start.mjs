// `npm start`: runs the built server (node dist/server/index.js) in this very process, so signals reach
// it directly. Builds first when dist/ is missing or older than the sources and the build tools are
// installed; with a production install (`npm ci --omit=dev`) it runs what is built and never builds.
import path from 'node:path';
import { build, buildState, canBuild, DIST, runEntry } from './launcher.mjs';

const state = buildState();
if (state !== 'fresh') {
  if (canBuild()) {
    console.error(
      state === 'missing' ? 'start: no build yet, building…' : 'start: sources changed, rebuilding…',
    );
    build();
  } else if (state === 'missing') {
    console.error(
      'start: dist/ is not built and the build tools are not installed: run `npm ci && npm run build`',
    );
    process.exit(1);
  } else {
    console.error(
      'start: sources are newer than dist/ but the build tools are not installed; running the existing build',
    );
  }
}
await runEntry(path.join(DIST, 'server/index.js'), process.argv.slice(2));
