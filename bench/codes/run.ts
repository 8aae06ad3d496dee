import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { newId } from '../../server/services/ids.ts';
import { createCodeBatch } from '../../server/services/redeem.ts';
import { createTestDb, DIALECTS, type TestDb } from '../../test/db.ts';

/**
 * How long creating one 10,000-code batch takes (generate, hash, chunked multi-row INSERTs in one
 * transaction), on a fresh SQLite database (file with WAL, as in production, and in memory) and on
 * MariaDB when it answers. Target: a few seconds.
 *   npx tsx bench/codes/run.ts [--count=10000] [--runs=3]
 */
const { values } = parseArgs({
  options: { count: { type: 'string', default: '10000' }, runs: { type: 'string', default: '3' } },
});
const count = Number(values.count);
const runs = Number(values.runs);

const work = await mkdtemp(join(tmpdir(), 'codes-bench-'));
const targets: { label: string; open: () => Promise<TestDb> }[] = [
  {
    label: 'sqlite (file, WAL)',
    open: () => createTestDb('sqlite', { file: join(work, `${newId()}.sqlite`) }),
  },
  { label: 'sqlite (memory)', open: () => createTestDb('sqlite') },
  ...(DIALECTS.includes('mysql') ? [{ label: 'mariadb', open: () => createTestDb('mysql') }] : []),
];

console.log(`Creating a batch of ${count} codes, ${runs} runs per database, each into a fresh database`);
for (const target of targets) {
  const times: number[] = [];
  for (let run = 0; run < runs; run++) {
    const t = await target.open();
    try {
      const adminId = newId();
      await t.db
        .insertInto('users')
        .values({
          id: adminId,
          email: 'bench@example.com',
          password_hash: 'x',
          role: 'admin',
          credit_balance: 0,
          created_at: 1,
        })
        .execute();
      const started = performance.now();
      const { codes } = await createCodeBatch(t.db, {
        credits: 100,
        count,
        createdBy: adminId,
        now: Date.now(),
      });
      times.push(performance.now() - started);
      if (codes.length !== count) throw new Error(`expected ${count} codes, got ${codes.length}`);
    } finally {
      await t.destroy();
    }
  }
  const sorted = [...times].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)] ?? 0;
  console.log(
    `${target.label.padEnd(20)} median ${(median / 1000).toFixed(2)} s  (runs: ${times.map((ms) => `${(ms / 1000).toFixed(2)} s`).join(', ')})`,
  );
}
await rm(work, { recursive: true, force: true });
