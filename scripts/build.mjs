// `npm run build`: the SPA (vite → dist/client) and the server (tsc → dist/server, dist/db, dist/shared).
import { build, canBuild } from './launcher.mjs';

if (!canBuild()) {
  console.error('build: vite and typescript are not installed (dev dependencies); run `npm ci` first');
  process.exit(1);
}
build();
