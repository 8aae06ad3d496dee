import { parseArgs } from 'node:util';
import { logger } from '../../server/logger.ts';
import { testInner } from '../../test/context.ts';
import { createTestDb, DIALECTS } from '../../test/db.ts';
import { startTestServer } from '../../test/http.ts';

/**
 * /healthz latency while the server takes a flood of password checks: `--requests` sign-ins with wrong
 * passwords, `--concurrency` at a time, each from its own address (X-Forwarded-For), so no rate limit
 * stops them and every one asks for scrypt. The hash semaphore keeps the thread pool and the event loop
 * free; beyond its line the server answers BUSY at once. Prints the outcomes and /healthz percentiles.
 *   npx tsx bench/abuse/run.ts [--requests=1000] [--concurrency=100]
 */
const { values } = parseArgs({
  options: {
    requests: { type: 'string', default: '1000' },
    concurrency: { type: 'string', default: '100' },
  },
});
const requests = Number(values.requests);
const concurrency = Number(values.concurrency);

for (const dialect of DIALECTS) {
  const t = await createTestDb(dialect);
  const inner = testInner(t.db, { env: { TRUST_PROXY: 'loopback' } });
  logger.setLevel('silent');
  const server = await startTestServer(inner);
  const signIn = (i: number) =>
    fetch(`${server.url}/trpc/auth.signIn`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-forwarded-for': `10.9.${i >> 8}.${i & 255}` },
      body: JSON.stringify({ json: { email: `nobody-${i}@example.com`, password: 'wrong-password' } }),
    }).then(async (res) => {
      const body = (await res.json()) as { error?: { json: { data: { reason?: string } } } };
      return body.error?.json.data.reason ?? 'ok';
    });

  let done = false;
  const latencies: number[] = [];
  const probe = (async () => {
    while (!done) {
      const started = performance.now();
      await fetch(`${server.url}/healthz`).then((r) => r.text());
      latencies.push(performance.now() - started);
      await new Promise((r) => setTimeout(r, 10));
    }
  })();
  const outcomes = new Map<string, number>();
  const started = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < requests) {
        const reason = await signIn(next++);
        outcomes.set(reason, (outcomes.get(reason) ?? 0) + 1);
      }
    }),
  );
  const elapsed = performance.now() - started;
  done = true;
  await probe;
  latencies.sort((a, b) => a - b);
  const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? 0;
  console.log(
    `${dialect}: ${requests} sign-ins, ${concurrency} at a time, in ${(elapsed / 1000).toFixed(1)} s: ${[
      ...outcomes,
    ]
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}`,
  );
  console.log(
    `  /healthz over ${latencies.length} probes: p50 ${pct(0.5).toFixed(0)} ms, p99 ${pct(0.99).toFixed(0)} ms, max ${(latencies.at(-1) ?? 0).toFixed(0)} ms`,
  );
  await server.close();
  await t.destroy();
}
