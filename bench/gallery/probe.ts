import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { connect } from '../../db/connect.ts';
import { logger } from '../../server/logger.ts';
import { createApiToken } from '../../server/services/auth.ts';
import { MYSQL_ROOT_URL } from '../../test/db.ts';
import { startGalleryApp, startGalleryClient } from './app.ts';

const { values } = parseArgs({
  options: {
    database: { type: 'string', default: 'df_bench_gallery' },
    samples: { type: 'string', default: '2000' },
    user: { type: 'string', default: 'bench-user-0001' },
  },
});
const SAMPLES = Number(values.samples);
if (!/^df_bench_\w+$/.test(values.database)) throw new Error('--database must start with df_bench_');

logger.setLevel('warn');
const url = `${MYSQL_ROOT_URL}/${values.database}`;
const db = connect({ databaseUrl: url, dataDir: '', poolSize: 8 });
const server = await startGalleryApp(db, url);
const { token } = await createApiToken(db, { userId: values.user, name: 'probe', now: Date.now() });

const report = (label: string, times: number[]) => {
  const sorted = times.slice(50).sort((a, b) => a - b); // the first 50 warm up
  const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
  console.log(`${label.padEnd(32)} ${at(50).toFixed(2).padStart(7)} ${at(95).toFixed(2).padStart(7)}`);
};

/** In this process: `once`, 50 + SAMPLES times. */
async function time(label: string, once: () => Promise<unknown>) {
  const times: number[] = [];
  for (let i = 0; i < 50 + SAMPLES; i += 1) {
    const t0 = performance.now();
    await once();
    times.push(performance.now() - t0);
  }
  report(label, times);
}

/** Over HTTP from the client process, 50 + SAMPLES GETs one at a time. */
const client = startGalleryClient(server.url);
async function timeHttp(label: string, path: string, headers: Record<string, string> = {}) {
  const { times } = await client.get(Array.from({ length: 50 + SAMPLES }, () => ({ path, headers })));
  report(label, times);
}
const trpcPath = (procedure: string) =>
  `/trpc/${procedure}?input=${encodeURIComponent(JSON.stringify({ json: {} }))}`;
const auth = { authorization: `Bearer ${token}` };

console.log(
  `load average ${os.loadavg()[0]?.toFixed(1)} on ${os.cpus().length} CPUs; ${SAMPLES} samples each, ms`,
);
console.log(`${'request'.padEnd(32)} ${'p50'.padStart(7)} ${'p95'.padStart(7)}`);
await timeHttp('GET /healthz', '/healthz');
await time('database round trip (in-process)', () =>
  db.selectFrom('users').select('id').where('id', '=', values.user).execute(),
);
await timeHttp('credits.balance', trpcPath('credits.balance'), auth);
await timeHttp('outputs.list (first page of 30)', trpcPath('outputs.list'), auth);

client.close();
await server.close();
await db.destroy();
