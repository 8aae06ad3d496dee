import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { connect } from '../../db/connect.ts';
import { logger } from '../../server/logger.ts';
import { createApiToken } from '../../server/services/auth.ts';
import { MYSQL_ROOT_URL } from '../../test/db.ts';
import { httpGetter, startGalleryApp } from './app.ts';

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

async function time(label: string, once: () => Promise<unknown>) {
  for (let i = 0; i < 50; i += 1) await once(); // warm-up
  const times: number[] = [];
  for (let i = 0; i < SAMPLES; i += 1) {
    const t0 = performance.now();
    await once();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  const at = (p: number) => times[Math.min(times.length - 1, Math.floor((p / 100) * times.length))]!;
  console.log(`${label.padEnd(32)} ${at(50).toFixed(2).padStart(7)} ${at(95).toFixed(2).padStart(7)}`);
}

const get = httpGetter(server.url);
const trpc = (procedure: string) => async () => {
  const input = encodeURIComponent(JSON.stringify({ json: {} }));
  const res = await get(`/trpc/${procedure}?input=${input}`, { authorization: `Bearer ${token}` });
  if (res.status !== 200) throw new Error(`${procedure} ${res.status}: ${res.body}`);
};

console.log(
  `load average ${os.loadavg()[0]?.toFixed(1)} on ${os.cpus().length} CPUs; ${SAMPLES} samples each, ms`,
);
console.log(`${'request'.padEnd(32)} ${'p50'.padStart(7)} ${'p95'.padStart(7)}`);
await time('GET /healthz', () => get('/healthz'));
await time('database round trip (in-process)', () =>
  db.selectFrom('users').select('id').where('id', '=', values.user).execute(),
);
await time('credits.balance', trpc('credits.balance'));
await time('outputs.list (first page of 30)', trpc('outputs.list'));

await server.close();
await db.destroy();
