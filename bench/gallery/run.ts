import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { createConnection } from 'mysql2/promise';
import { connect } from '../../db/connect.ts';
import { migrateToLatest } from '../../db/migrate.ts';
import { logger } from '../../server/logger.ts';
import { createApiToken } from '../../server/services/auth.ts';
import { listOutputs } from '../../server/services/outputs.ts';
import { gramsOf, searchTextOf } from '../../server/services/search-text.ts';
import { MYSQL_ROOT_URL } from '../../test/db.ts';
import { startGalleryApp, startGalleryClient } from './app.ts';

const { values } = parseArgs({
  options: {
    users: { type: 'string', default: '100' },
    'per-user': { type: 'string', default: '10000' },
    samples: { type: 'string', default: '200' },
    database: { type: 'string', default: 'df_bench_gallery' },
    reuse: { type: 'boolean', default: false },
    drop: { type: 'boolean', default: false },
  },
});
const USERS = Number(values.users);
const PER_USER = Number(values['per-user']);
const TOTAL = USERS * PER_USER;
const SAMPLES = Number(values.samples);
const DB_NAME = values.database;
if (!/^df_bench_\w+$/.test(DB_NAME)) throw new Error('--database must start with df_bench_');

// Prompt parts: a subject (Chinese), a scene (English), a style (either). 灯笼 is in 2 of 32 subjects.
const SUBJECTS = [
  '红灯笼',
  '灯笼节的夜市',
  '一只橘猫',
  '雪山',
  '竹林小径',
  '古镇石桥',
  '樱花树下的少女',
  '赛博朋克城市',
  '江南水乡',
  '熊猫吃竹子',
  '日出时的海边',
  '秋天的森林',
  '宇航员',
  '机械龙',
  '茶馆',
  '雨中的街道',
  '金鱼',
  '荷花池',
  '长城',
  '沙漠骆驼',
  '星空',
  '灯塔',
  '咖啡馆',
  '小狐狸',
  '书房',
  '瀑布',
  '火车站',
  '向日葵田',
  '水墨山水',
  '老人和海',
  '城堡',
  '风筝',
];
const SCENES = [
  'paper lanterns over a quiet river',
  'at dusk with warm light',
  'in heavy rain',
  'under a starry sky',
  'morning fog over the valley',
  'crowded night market',
  'snow falling softly',
  'golden hour portrait',
  'neon reflections on wet asphalt',
  'a lone traveler on the road',
  'spring blossoms everywhere',
  'ancient temple courtyard',
  'misty mountains far away',
  'a cozy room by the fireplace',
  'aerial view of the city',
  'close-up macro shot',
];
const STYLES = [
  '水彩',
  '油画',
  'oil painting',
  'watercolor',
  'studio ghibli style',
  'photorealistic 8k',
  '国画风格',
  'pixel art',
  'cinematic lighting',
  '赛璐璐',
  'low poly',
  'ukiyo-e',
];
const RARE = '端午龙舟 dragon boat';

const pct = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;

logger.setLevel('warn');
const admin = await createConnection({ uri: MYSQL_ROOT_URL, multipleStatements: true });
const url = `${MYSQL_ROOT_URL}/${DB_NAME}`;
const [existing] = await admin.query(`SHOW DATABASES LIKE '${DB_NAME}'`);
const reuse = values.reuse && (existing as unknown[]).length > 0;
if (!reuse) {
  await admin.query(`DROP DATABASE IF EXISTS \`${DB_NAME}\``);
  await admin.query(`CREATE DATABASE \`${DB_NAME}\``);
}
await admin.end();
const db = connect({ databaseUrl: url, dataDir: '', poolSize: 8 });
await migrateToLatest(db);

const userId = (u: number) => `bench-user-${String(u).padStart(4, '0')}`;
/** Users whose outputs are almost all images. */
const fewVideos = (u: number) => u % 10 === 0;

async function build() {
  const started = performance.now();
  const step = (label: string, t0: number) =>
    console.log(`  ${label.padEnd(44)} ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const conn = await createConnection({ uri: url, multipleStatements: true });
  await conn.query('SET SESSION unique_checks = 0, foreign_key_checks = 0');
  // Phrase tables: each part with its search text and grams, computed by the app's own tokenizer.
  await conn.query(`CREATE TABLE bench_parts (part CHAR(1) NOT NULL, i INT NOT NULL, text VARCHAR(200) NOT NULL,
    search VARCHAR(200) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL, PRIMARY KEY (part, i))`);
  await conn.query(`CREATE TABLE bench_part_grams (part CHAR(1) NOT NULL, i INT NOT NULL,
    gram VARCHAR(32) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL, PRIMARY KEY (part, i, gram))`);
  const parts: [string, string[]][] = [
    ['a', SUBJECTS],
    ['b', SCENES],
    ['c', STYLES],
    ['r', [RARE]],
  ];
  for (const [part, list] of parts) {
    for (const [i, text] of list.entries()) {
      await conn.query('INSERT INTO bench_parts VALUES (?, ?, ?, ?)', [part, i, text, searchTextOf(text)]);
      for (const gram of gramsOf(text)) {
        await conn.query('INSERT IGNORE INTO bench_part_grams VALUES (?, ?, ?)', [part, i, gram]);
      }
    }
  }
  // The plan: one row per output, in time order; user = seq mod USERS, so users interleave like real ones.
  let t0 = performance.now();
  await conn.query(`CREATE TABLE bench_plan (seq INT PRIMARY KEY, u INT NOT NULL, a INT NOT NULL, b INT NOT NULL,
    c INT NOT NULL, rare TINYINT NOT NULL, kind VARCHAR(8) NOT NULL, deleted TINYINT NOT NULL,
    job_id VARCHAR(36) NOT NULL, output_id VARCHAR(36) NOT NULL, user_id VARCHAR(36) NOT NULL, KEY (u))`);
  const base = Date.UTC(2026, 0, 1);
  // UUIDv7-shaped, time-ordered ids: 48-bit milliseconds, then the sequence number.
  const uuid = (variant: string) => `LOWER(CONCAT(SUBSTR(LPAD(HEX(${base} + seq), 12, '0'), 1, 8), '-',
      SUBSTR(LPAD(HEX(${base} + seq), 12, '0'), 9, 4), '-7', SUBSTR(LPAD(HEX(seq), 15, '0'), 1, 3), '-${variant}',
      SUBSTR(LPAD(HEX(seq), 15, '0'), 4, 3), '-', SUBSTR(LPAD(HEX(seq), 15, '0'), 4, 12)))`;
  await conn.query(`INSERT INTO bench_plan
    SELECT seq, seq % ${USERS},
      CRC32(CONCAT('a', seq)) % ${SUBJECTS.length},
      CRC32(CONCAT('b', seq)) % ${SCENES.length},
      CRC32(CONCAT('c', seq)) % ${STYLES.length},
      CRC32(CONCAT('r', seq)) % 1000 = 0,
      IF(CRC32(CONCAT('k', seq)) % 1000 < IF((seq % ${USERS}) % 10 = 0, 5, 100), 'video', 'image'),
      CRC32(CONCAT('d', seq)) % 100 = 0,
      ${uuid('9')}, ${uuid('8')}, CONCAT('bench-user-', LPAD(seq % ${USERS}, 4, '0'))
    FROM seq_1_to_${TOTAL}`);
  step(`plan (${TOTAL} rows)`, t0);

  t0 = performance.now();
  const users = Array.from(
    { length: USERS },
    (_, u) => `('${userId(u)}', '${userId(u)}@bench.example', 'x', 'user', 0, ${base})`,
  );
  await conn.query(
    `INSERT INTO users (id, email, password_hash, role, credit_balance, created_at) VALUES ${users.join(',')}`,
  );
  const CHUNK = 100_000;
  const prompt = `CONCAT(pa.text, '，', pb.text, ', ', pc.text, IF(p.rare, ' ${RARE}', ''))`;
  const search = `CONCAT(pa.search, pb.search, pc.search, IF(p.rare, pr.search, ''))`;
  const joins = `JOIN bench_parts pa ON pa.part = 'a' AND pa.i = p.a JOIN bench_parts pb ON pb.part = 'b' AND pb.i = p.b
    JOIN bench_parts pc ON pc.part = 'c' AND pc.i = p.c JOIN bench_parts pr ON pr.part = 'r' AND pr.i = 0`;
  for (let from = 1; from <= TOTAL; from += CHUNK) {
    const range = `p.seq BETWEEN ${from} AND ${Math.min(TOTAL, from + CHUNK - 1)}`;
    await conn.query(`INSERT INTO jobs (id, user_id, kind, status, stage, progress, status_sequence, model,
        provider, prompt, params, cost, refunded, attempts, next_attempt_at, created_at, started_at, finished_at)
      SELECT p.job_id, p.user_id, p.kind, 'succeeded', 'done', 100, 4,
        IF(p.kind = 'image', 'demo-image', 'demo-video'), 'demo', ${prompt}, '{}', 2, 0, 1, 0,
        ${base} + p.seq, ${base} + p.seq, ${base} + p.seq
      FROM bench_plan p ${joins} WHERE ${range} ORDER BY p.seq`);
    await conn.query(`INSERT INTO job_outputs (id, job_id, user_id, kind, oss_url, oss_path, size, content_type,
        sha256, meta, created_at, deleted_at, search_text, search_indexed, prompt)
      SELECT p.output_id, p.job_id, p.user_id, p.kind,
        CONCAT('/files/outputs/', p.user_id, '/', p.job_id, '/0.', IF(p.kind = 'image', 'png', 'mp4')),
        CONCAT('outputs/', p.user_id, '/', p.job_id, '/0.', IF(p.kind = 'image', 'png', 'mp4')),
        IF(p.kind = 'image', 1200000, 3400000), IF(p.kind = 'image', 'image/png', 'video/mp4'), REPEAT('0', 64),
        IF(p.kind = 'image', '{"width":1024,"height":1024,"provider":"demo","model":"demo-image"}',
          '{"width":832,"height":480,"duration_seconds":4,"provider":"demo","model":"demo-video"}'),
        ${base} + p.seq, IF(p.deleted, ${base} + p.seq + 1, NULL), ${search}, 1, ${prompt}
      FROM bench_plan p ${joins} WHERE ${range} ORDER BY p.seq`);
  }
  step(`jobs and job_outputs (${TOTAL} each)`, t0);

  // Grams of live outputs, one user at a time in primary-key order (near-sequential inserts).
  t0 = performance.now();
  for (let u = 0; u < USERS; u += 1) {
    const from = (part: string, column: string, extra = '') =>
      `SELECT p.user_id, g.gram, p.output_id FROM bench_plan p
        JOIN bench_part_grams g ON g.part = '${part}' AND g.i = ${column}
        WHERE p.u = ${u} AND NOT p.deleted ${extra}`;
    await conn.query(`INSERT IGNORE INTO output_search_grams (user_id, gram, output_id)
      SELECT user_id, gram, output_id FROM (
        ${from('a', 'p.a')} UNION ALL ${from('b', 'p.b')} UNION ALL ${from('c', 'p.c')}
        UNION ALL ${from('r', '0', 'AND p.rare')}
      ) x ORDER BY gram, output_id`);
  }
  const [[gramCount]] = (await conn.query('SELECT COUNT(*) AS n FROM output_search_grams')) as unknown as [
    { n: number }[],
  ];
  step(`output_search_grams (${gramCount?.n} rows)`, t0);
  t0 = performance.now();
  await conn.query('ANALYZE TABLE jobs, job_outputs, output_search_grams');
  await conn.query('DROP TABLE bench_plan, bench_parts, bench_part_grams');
  step('analyze', t0);
  await conn.end();
  console.log(`built in ${((performance.now() - started) / 1000).toFixed(1)} s`);
}

if (reuse) console.log(`reusing database ${DB_NAME}`);
else {
  console.log(`building ${DB_NAME}: ${USERS} users × ${PER_USER} outputs`);
  await build();
}

const server = await startGalleryApp(db, url);

// Tokens for ten users: half with few videos, half with the usual share.
const measured = [0, 10, 20, 30, 40, 1, 2, 3, 4, 5].filter((u) => u < USERS);
const tokens = new Map<number, string>();
for (const u of measured) {
  const { token } = await createApiToken(db, { userId: userId(u), name: 'bench', now: Date.now() });
  tokens.set(u, token);
}
const idsOf = new Map<number, string[]>();
for (const u of measured) {
  const rows = await db
    .selectFrom('job_outputs')
    .select('id')
    .where('user_id', '=', userId(u))
    .where('deleted_at', 'is', null)
    .orderBy('id', 'desc')
    .execute();
  idsOf.set(
    u,
    rows.map((r) => r.id),
  );
}

interface ListInput {
  cursor?: string;
  limit?: number;
  kind?: 'image' | 'video';
  q?: string;
}

const client = startGalleryClient(server.url);

/** The GET a client makes for `procedure` with `input`, as user `u`. */
const request = (u: number, input: ListInput, procedure = 'outputs.list') => ({
  path: `/trpc/${procedure}?input=${encodeURIComponent(JSON.stringify({ json: input }))}`,
  headers: { authorization: `Bearer ${tokens.get(u)}` },
});

let seed = 1;
const random = () => {
  seed = (seed * 1103515245 + 12345) % 2 ** 31;
  return seed / 2 ** 31;
};
const pick = <T>(list: T[]): T => list[Math.floor(random() * list.length)]!;
const randomCursor = (u: number) => {
  const ids = idsOf.get(u) ?? [];
  return ids[Math.floor(random() * ids.length)];
};

/** The cursor a client holds after the first page (scrolling on), per user and filter. */
const nextCursors = new Map<string, string | undefined>();
for (const u of measured) {
  for (const filter of [{}, { kind: 'image' as const }, { q: '灯笼' }]) {
    const first = await listOutputs(db, { userId: userId(u), limit: 30, ...filter });
    nextCursors.set(`${u} ${JSON.stringify(filter)}`, first.nextCursor ?? undefined);
  }
}
const secondPage = (u: number, filter: ListInput): ListInput => ({
  ...filter,
  cursor: nextCursors.get(`${u} ${JSON.stringify(filter)}`),
});

const cases: { label: string; users: number[]; input: (u: number) => ListInput }[] = [
  { label: 'first page (30)', users: measured, input: () => ({}) },
  { label: 'second page (cursor of the first)', users: measured, input: (u) => secondPage(u, {}) },
  {
    label: 'random cursor (anywhere in 10,000)',
    users: measured,
    input: (u) => ({ cursor: randomCursor(u) }),
  },
  { label: 'kind=image, first page', users: measured, input: () => ({ kind: 'image' }) },
  { label: 'kind=image, second page', users: measured, input: (u) => secondPage(u, { kind: 'image' }) },
  {
    label: 'kind=image, random cursor',
    users: measured,
    input: (u) => ({ kind: 'image', cursor: randomCursor(u) }),
  },
  {
    label: 'kind=video, users with 10% videos',
    users: measured.filter((u) => !fewVideos(u)),
    input: () => ({ kind: 'video' }),
  },
  {
    label: 'kind=video, users with 0.5% videos',
    users: measured.filter(fewVideos),
    input: () => ({ kind: 'video' }),
  },
  {
    label: 'kind=video, random cursor, 0.5% videos',
    users: measured.filter(fewVideos),
    input: (u) => ({ kind: 'video', cursor: randomCursor(u) }),
  },
  { label: 'search 灯笼 (~6% of prompts)', users: measured, input: () => ({ q: '灯笼' }) },
  { label: 'search 灯笼, second page', users: measured, input: (u) => secondPage(u, { q: '灯笼' }) },
  {
    label: 'search 灯笼, random cursor',
    users: measured,
    input: (u) => ({ q: '灯笼', cursor: randomCursor(u) }),
  },
  { label: 'search lantern (English word)', users: measured, input: () => ({ q: 'lantern' }) },
  { label: 'search 龙舟 (~0.1%)', users: measured, input: () => ({ q: '龙舟' }) },
  { label: 'search 猫 (one character)', users: measured, input: () => ({ q: '猫' }) },
  { label: 'search "灯笼 watercolor" (two terms)', users: measured, input: () => ({ q: '灯笼 watercolor' }) },
  { label: 'search zeppelin (no match)', users: measured, input: () => ({ q: 'zeppelin' }) },
  {
    label: 'search 灯笼 + kind=video, 0.5% videos',
    users: measured.filter(fewVideos),
    input: () => ({ q: '灯笼', kind: 'video' }),
  },
];

const [load] = os.loadavg();
console.log(
  `\noutputs.list over HTTP (${server.url}), MariaDB ${DB_NAME}: ${TOTAL} outputs, ${SAMPLES} requests per case, one at a time; load average ${load?.toFixed(1)} on ${os.cpus().length} CPUs`,
);
console.log(
  '  p50/p95: the whole HTTP request; service p50: the same listOutputs call in-process (SQL + rows)',
);
console.log(
  `${'case'.padEnd(42)} ${'p50 ms'.padStart(8)} ${'p95 ms'.padStart(8)} ${'items'.padStart(6)} ${'service p50'.padStart(12)}`,
);
const WARM_UP = 10;
const summary = (label: string, times: number[], items: number[]) => {
  const sorted = times.slice(WARM_UP).sort((a, b) => a - b);
  const counted = items.slice(WARM_UP);
  return {
    label,
    p50: pct(sorted, 50),
    p95: pct(sorted, 95),
    items: counted.reduce((a, b) => a + b, 0) / counted.length,
  };
};
/** The same requests over HTTP from the client process, one at a time. */
const overHttp = async (label: string, next: () => ReturnType<typeof request>) => {
  const { times, items } = await client.get(Array.from({ length: WARM_UP + SAMPLES }, next));
  return summary(label, times, items);
};
/** In this process, with no HTTP: the service call alone. */
const inProcess = async (label: string, once: () => Promise<number>) => {
  const times: number[] = [];
  const items: number[] = [];
  for (let i = 0; i < WARM_UP + SAMPLES; i += 1) {
    const t0 = performance.now();
    items.push(await once());
    times.push(performance.now() - t0);
  }
  return summary(label, times, items);
};
const floor = await overHttp('floor: credits.balance', () => request(pick(measured), {}, 'credits.balance'));
console.log(
  `${floor.label.padEnd(42)} ${floor.p50.toFixed(2).padStart(8)} ${floor.p95.toFixed(2).padStart(8)}`,
);
const results: { label: string; p50: number; p95: number }[] = [];
for (const c of cases) {
  if (c.users.length === 0) continue;
  const http = await overHttp(c.label, () => {
    const u = pick(c.users);
    return request(u, c.input(u));
  });
  const service = await inProcess(c.label, async () => {
    const u = pick(c.users);
    const page = await listOutputs(db, { userId: userId(u), limit: 30, ...c.input(u) });
    return page.items.length;
  });
  results.push(http);
  console.log(
    `${c.label.padEnd(42)} ${http.p50.toFixed(2).padStart(8)} ${http.p95.toFixed(2).padStart(8)} ${http.items.toFixed(1).padStart(6)} ${service.p50.toFixed(2).padStart(12)}`,
  );
}
const over = results.filter((r) => r.p95 > 10);
console.log(
  over.length === 0 ? '\nevery case p95 ≤ 10 ms' : `\np95 over 10 ms: ${over.map((r) => r.label).join('; ')}`,
);

client.close();
await server.close();
await db.destroy();
if (values.drop) {
  const c = await createConnection({ uri: MYSQL_ROOT_URL });
  await c.query(`DROP DATABASE IF EXISTS \`${DB_NAME}\``);
  await c.end();
}
