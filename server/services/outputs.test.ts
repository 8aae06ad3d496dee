import { randomBytes } from 'node:crypto';
import { type Kysely, sql } from 'kysely';
import { Migrator } from 'kysely/migration';
import { createConnection } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from '../../db/connect.ts';
import { migrateToLatest } from '../../db/migrate.ts';
import { migrations } from '../../db/migrations/index.ts';
import type { Database, User } from '../../db/schema.ts';
import { appCodeOf, callerFor, testInner } from '../../test/context.ts';
import { createTestDb, DIALECTS, MYSQL_ROOT_URL, type TestDb } from '../../test/db.ts';
import { signUpUser } from '../../test/pipeline.ts';
import type { InnerContext } from '../context.ts';
import { newId } from './ids.ts';
import { listOutputs } from './outputs.ts';
import { gramsOf, parseQuery, searchTextOf } from './search-text.ts';

/**
 * A succeeded job with one stored output, written as the runner leaves them (not yet search-indexed).
 * `promptCopy: false` writes the row as the schema before job_outputs.prompt had it.
 */
async function insertOutput(
  db: Kysely<Database>,
  userId: string,
  prompt: string,
  kind: 'image' | 'video' = 'image',
  { promptCopy = true } = {},
): Promise<string> {
  const jobId = newId();
  const outputId = newId();
  const now = Date.now();
  await sql`insert into jobs (id, user_id, kind, status, stage, progress, status_sequence, model, provider,
      prompt, params, cost, refunded, attempts, next_attempt_at, created_at)
    values (${jobId}, ${userId}, ${kind}, 'succeeded', 'done', 100, 3, 'demo-image', 'demo', ${prompt}, '{}',
      2, 0, 1, 0, ${now})`.execute(db);
  const ext = kind === 'image' ? 'png' : 'mp4';
  await sql`insert into job_outputs (id, job_id, user_id, kind, oss_url, oss_path, size, content_type, sha256,
      meta, created_at ${promptCopy ? sql`, prompt` : sql``})
    values (${outputId}, ${jobId}, ${userId}, ${kind}, ${`/files/o/${outputId}.${ext}`}, ${`o/${outputId}.${ext}`},
      10, ${kind === 'image' ? 'image/png' : 'video/mp4'}, ${'0'.repeat(64)}, '{"provider":"demo","model":"m"}',
      ${now} ${promptCopy ? sql`, ${prompt}` : sql``})`.execute(db);
  return outputId;
}

describe('search text', () => {
  it('indexes CJK runs by bigrams (and their last character) and other words whole, lower-cased', () => {
    expect(gramsOf('一串红灯笼 Red LANTERNS, 夜')).toEqual([
      '一串',
      '串红',
      '红灯',
      '灯笼',
      '笼',
      'red',
      'lanterns',
      '夜',
    ]);
    expect(searchTextOf('一串红灯笼 Red LANTERNS, 夜')).toBe(' 一串红灯笼 red lanterns 夜');
    expect(parseQuery('灯笼 Lant')).toEqual({
      conditions: [{ gram: '灯笼' }, { from: 'lant', to: 'lant\u{10FFFF}' }],
      patterns: ['%灯笼%', '% lant%'],
    });
    expect(parseQuery('%%% ...')).toBeNull();
  });
});

describe.each(DIALECTS)('outputs.list search on %s', (dialect) => {
  let t: TestDb;
  let inner: InnerContext;
  let alice: User;
  let bob: User;
  const ids: Record<string, string> = {};

  beforeAll(async () => {
    t = await createTestDb(dialect);
    inner = testInner(t.db);
    alice = await signUpUser(inner);
    bob = await signUpUser(inner);
    ids.lanterns = await insertOutput(t.db, alice.id, '一串红灯笼挂在老街上 at night');
    ids.english = await insertOutput(t.db, alice.id, 'Paper LANTERNS over a quiet river');
    ids.cat = await insertOutput(t.db, alice.id, '猫咪 sleeping on a sofa');
    ids.video = await insertOutput(t.db, alice.id, '灯笼 swaying in the wind', 'video');
    ids.bobs = await insertOutput(t.db, bob.id, '红灯笼 and lanterns of Bob');
  });
  afterAll(async () => {
    await t?.destroy();
  });

  const search = (
    user: User,
    input: { q: string; kind?: 'image' | 'video'; cursor?: string; limit?: number },
  ) => callerFor(inner, user).outputs.list(input);

  it('finds 灯笼 inside a Chinese prompt, and an English word whatever its case, with the prompt', async () => {
    const found = await search(alice, { q: '灯笼' });
    expect(found.items.map((o) => o.id)).toEqual([ids.video, ids.lanterns]);
    expect(found.items[1]?.prompt).toBe('一串红灯笼挂在老街上 at night');
    expect((await search(alice, { q: 'lantern' })).items.map((o) => o.id)).toEqual([ids.english]);
    expect((await search(alice, { q: '  Lanterns  ' })).items.map((o) => o.id)).toEqual([ids.english]);
    expect((await search(alice, { q: '老街 NIGHT' })).items.map((o) => o.id)).toEqual([ids.lanterns]);
    expect((await search(alice, { q: '灯' })).items.map((o) => o.id)).toEqual([ids.video, ids.lanterns]);
    expect((await search(alice, { q: '猫' })).items.map((o) => o.id)).toEqual([ids.cat]);
    expect((await search(alice, { q: '灯笼 river' })).items).toEqual([]);
    expect((await search(alice, { q: 'antern' })).items).toEqual([]); // words match from their start
    expect((await search(alice, { q: '龙舟' })).items).toEqual([]);
  });

  it('takes a job_outputs row written with only the columns SPEC names (an operator script), and lists it', async () => {
    const job = await t.db
      .selectFrom('jobs')
      .select(['id', 'user_id'])
      .where('user_id', '=', bob.id)
      .executeTakeFirstOrThrow();
    const id = newId();
    await t.db
      .insertInto('job_outputs')
      .values({
        id,
        job_id: job.id,
        user_id: bob.id,
        kind: 'image',
        oss_url: 'http://example.test/a.png',
        oss_path: 'outputs/a.png',
        size: 1,
        content_type: 'image/png',
        sha256: '0'.repeat(64),
        meta: '{}',
        created_at: Date.now(),
        deleted_at: null,
      } as never)
      .execute();
    const listed = await callerFor(inner, bob).outputs.list({});
    expect(listed.items.map((o) => o.id)).toContain(id);
    await t.db.deleteFrom('job_outputs').where('id', '=', id).execute();
  });

  it("never shows another user's outputs", async () => {
    expect((await search(bob, { q: '灯笼' })).items.map((o) => o.id)).toEqual([ids.bobs]);
    expect((await search(alice, { q: 'bob' })).items).toEqual([]);
  });

  it('finds outputs stored after the last search, and drops deleted ones', async () => {
    const later = await insertOutput(t.db, alice.id, '元宵节的灯笼');
    expect((await search(alice, { q: '灯笼' })).items.map((o) => o.id)).toEqual([
      later,
      ids.video,
      ids.lanterns,
    ]);
    await callerFor(inner, alice).outputs.delete({ id: later });
    expect((await search(alice, { q: '灯笼' })).items.map((o) => o.id)).toEqual([ids.video, ids.lanterns]);
    const grams = await t.db
      .selectFrom('output_search_grams')
      .selectAll()
      .where('output_id', '=', later)
      .execute();
    expect(grams).toEqual([]);
  });

  it('respects the kind filter and pages with the cursor, without gaps or repeats', async () => {
    const user = await signUpUser(inner);
    const images: string[] = [];
    for (let i = 0; i < 7; i += 1) {
      images.push(await insertOutput(t.db, user.id, `湖上的灯笼 number ${i}`));
      await insertOutput(t.db, user.id, `a lake at dawn ${i}`);
      if (i % 3 === 0) await insertOutput(t.db, user.id, `灯笼 video ${i}`, 'video');
    }
    const seen: string[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < 10; page += 1) {
      const result = await search(user, {
        q: '灯笼',
        kind: 'image',
        limit: 3,
        ...(cursor ? { cursor } : {}),
      });
      expect(result.items.every((o) => o.kind === 'image')).toBe(true);
      seen.push(...result.items.map((o) => o.id));
      if (!result.nextCursor) break;
      cursor = result.nextCursor;
    }
    expect(seen).toEqual([...images].reverse());
    const videos = await search(user, { q: '灯笼', kind: 'video' });
    expect(videos.items.map((o) => o.prompt)).toEqual(['灯笼 video 6', '灯笼 video 3', '灯笼 video 0']);
    // Without a search, the kind filter and the cursor behave the same way.
    const plain = await callerFor(inner, user).outputs.list({ kind: 'video', limit: 2 });
    expect(plain.items.map((o) => o.prompt)).toEqual(['灯笼 video 6', '灯笼 video 3']);
    const next = await callerFor(inner, user).outputs.list({
      kind: 'video',
      limit: 2,
      cursor: plain.nextCursor!,
    });
    expect(next.items.map((o) => o.prompt)).toEqual(['灯笼 video 0']);
    expect(next.nextCursor).toBeNull();
  });

  it('gives the same answers when every term is common and the newest outputs are read in order', async () => {
    const queries = ['灯笼', 'lantern', '灯', '老街 night', '灯笼 river', '龙舟', 'bob'];
    for (const user of [alice, bob]) {
      for (const q of queries) {
        for (const kind of [undefined, 'video'] as const) {
          const input = { userId: user.id, limit: 2, q, ...(kind ? { kind } : {}) };
          const viaGrams = await listOutputs(t.db, input);
          const viaScan = await listOutputs(t.db, { ...input, commonPostings: 1 });
          expect(
            viaScan.items.map((o) => o.id),
            `${q} ${kind}`,
          ).toEqual(viaGrams.items.map((o) => o.id));
          expect(viaScan.nextCursor).toEqual(viaGrams.nextCursor);
        }
      }
    }
    const scanned = await listOutputs(t.db, { userId: alice.id, limit: 1, q: '灯笼', commonPostings: 1 });
    const next = await listOutputs(t.db, {
      userId: alice.id,
      limit: 5,
      q: '灯笼',
      commonPostings: 1,
      cursor: scanned.nextCursor!,
    });
    expect([...scanned.items, ...next.items].map((o) => o.id)).toEqual([ids.video, ids.lanterns]);
  });

  it('indexes new outputs once when several searches race for them', async () => {
    const user = await signUpUser(inner);
    const made: string[] = [];
    for (let i = 0; i < 5; i += 1) made.push(await insertOutput(t.db, user.id, `纸灯笼 ${i}`));
    const answers = await Promise.all(Array.from({ length: 6 }, () => search(user, { q: '灯笼' })));
    for (const answer of answers) expect(answer.items.map((o) => o.id)).toEqual([...made].reverse());
    const grams = await t.db
      .selectFrom('output_search_grams')
      .select(({ fn }) => fn.countAll<number>().as('n'))
      .where('user_id', '=', user.id)
      .executeTakeFirstOrThrow();
    // 纸灯, 灯笼, 笼 and the number, for each of the five.
    expect(Number(grams.n)).toBe(5 * 4);
  });

  it('treats an empty search as no search', async () => {
    expect((await search(alice, { q: '   ' })).items).toHaveLength(4);
  });

  it('refuses a search that is too long, has nothing to search for, or is not text, with VALIDATION', async () => {
    expect(await appCodeOf(search(alice, { q: '灯'.repeat(101) }))).toBe('VALIDATION');
    expect(await appCodeOf(search(alice, { q: '%_%' }))).toBe('VALIDATION');
    expect(await appCodeOf(search(alice, { q: 42 as unknown as string }))).toBe('VALIDATION');
  });

  it('answers like a plain filter of the prompts, for every kind of query, cursor and threshold', async () => {
    const user = await signUpUser(inner);
    const subjects = ['红灯笼', '灯塔', '一只橘猫', '灯笼节的夜市', '竹林'];
    const scenes = ['paper lanterns', 'a lantern festival', 'quiet river', 'lamp light', 'river boats'];
    const styles = ['水彩', 'watercolor', 'oil painting', '油画'];
    const made: { id: string; prompt: string; kind: 'image' | 'video'; deleted: boolean }[] = [];
    for (let i = 0; i < 60; i += 1) {
      const prompt = `${subjects[i % 5]}，${scenes[(i * 3) % 5]}, ${styles[(i * 7) % 4]}`;
      const kind = i % 4 === 1 ? 'video' : 'image';
      made.push({ id: await insertOutput(t.db, user.id, prompt, kind), prompt, kind, deleted: false });
    }
    await search(user, { q: '灯' }); // indexes them
    for (const gone of [made[7]!, made[20]!, made[41]!]) {
      await callerFor(inner, user).outputs.delete({ id: gone.id });
      gone.deleted = true;
    }
    const newestFirst = [...made].reverse();
    const expected = (
      q: string,
      kind: 'image' | 'video' | undefined,
      cursor: string | undefined,
      limit: number,
    ) => {
      const patterns = parseQuery(q)!.patterns.map((p) => p.slice(1, -1));
      const all = newestFirst.filter(
        (o) =>
          !o.deleted &&
          (!kind || o.kind === kind) &&
          (!cursor || o.id < cursor) &&
          patterns.every((p) => searchTextOf(o.prompt).includes(p)),
      );
      return {
        ids: all.slice(0, limit).map((o) => o.id),
        nextCursor: all.length > limit ? all[limit - 1]!.id : null,
      };
    };
    // 灯笼 is one gram; riv and 竹 cover one gram each (river, 竹林); 灯 and lantern several.
    const queries = [
      '灯笼',
      'riv',
      '竹',
      '灯',
      'lantern',
      '灯笼 watercolor',
      '灯笼节',
      'river 水彩',
      '猫 lamp',
      'zeppelin',
    ];
    for (const q of queries) {
      for (const kind of [undefined, 'image', 'video'] as const) {
        for (const commonPostings of [undefined, 1, 5, 12]) {
          for (const cursor of [undefined, made[44]!.id, made[13]!.id]) {
            const limit = 4;
            const page = await listOutputs(t.db, {
              userId: user.id,
              limit,
              q,
              ...(kind ? { kind } : {}),
              ...(cursor ? { cursor } : {}),
              ...(commonPostings ? { commonPostings } : {}),
            });
            const want = expected(q, kind, cursor, limit);
            const label = `${q} ${kind} ${commonPostings} ${cursor}`;
            expect(
              page.items.map((o) => o.id),
              label,
            ).toEqual(want.ids);
            expect(page.nextCursor, label).toBe(want.nextCursor);
          }
        }
      }
    }
    // Stored after the last search: a lone gram, a prefix of one gram and a prefix of none yet (zep) index
    // it before answering.
    for (const q of ['riv', '灯笼', 'zep']) {
      const prompt = `红灯笼 river ${q}`;
      const id = await insertOutput(t.db, user.id, prompt);
      made.push({ id, prompt, kind: 'image', deleted: false });
      newestFirst.unshift(made.at(-1)!);
      const page = await listOutputs(t.db, { userId: user.id, limit: 4, q });
      expect(page.items.map((o) => o.id)).toEqual(expected(q, undefined, undefined, 4).ids);
      expect(page.items[0]?.id).toBe(id);
    }
  });
});

/** A database migrated up to (and including) `last`, so a test can write rows the old schema had. */
async function databaseUpTo(dialect: 'sqlite' | 'mysql', last: string) {
  let url = 'sqlite::memory:';
  let name = '';
  if (dialect === 'mysql') {
    name = `df_test_${Date.now()}_${randomBytes(4).toString('hex')}`;
    const admin = await createConnection({ uri: MYSQL_ROOT_URL });
    await admin.query(`CREATE DATABASE \`${name}\``);
    await admin.end();
    url = `${MYSQL_ROOT_URL}/${name}`;
  }
  const db = connect({ databaseUrl: url, dataDir: '' });
  const migrator = new Migrator({ db, provider: { getMigrations: async () => migrations } });
  const { error } = await migrator.migrateTo(last);
  if (error) throw error;
  return {
    db,
    destroy: async () => {
      await db.destroy();
      if (!name) return;
      const admin = await createConnection({ uri: MYSQL_ROOT_URL });
      await admin.query(`DROP DATABASE IF EXISTS \`${name}\``);
      await admin.end();
    },
  };
}

describe.each(DIALECTS)('the search migration on %s', (dialect) => {
  it('backfills the outputs that exist: grams, search text and the indexed flag', async () => {
    const names = Object.keys(migrations).sort();
    const before = names[names.indexOf('2026-12-01-14-02-output-search') - 1]!;
    const { db, destroy } = await databaseUpTo(dialect, before);
    try {
      const userId = newId();
      await sql`insert into users (id, email, password_hash, role, credit_balance, created_at)
        values (${userId}, ${`${userId}@example.com`}, 'x', 'user', 0, 0)`.execute(db);
      const old = await insertOutput(db, userId, '红灯笼 Lanterns', 'image', { promptCopy: false });
      const gone = await insertOutput(db, userId, '灯笼 deleted', 'image', { promptCopy: false });
      await sql`update job_outputs set deleted_at = 1 where id = ${gone}`.execute(db);

      await migrateToLatest(db);

      const row = await db
        .selectFrom('job_outputs')
        .selectAll()
        .where('id', '=', old)
        .executeTakeFirstOrThrow();
      expect(row).toMatchObject({ search_text: ' 红灯笼 lanterns', search_indexed: 1 });
      const grams = await db
        .selectFrom('output_search_grams')
        .select('gram')
        .where('output_id', '=', old)
        .orderBy('gram')
        .execute();
      expect(grams.map((g) => g.gram).sort()).toEqual(['灯笼', '红灯', 'lanterns', '笼'].sort());
      const deletedGrams = await db
        .selectFrom('output_search_grams')
        .selectAll()
        .where('output_id', '=', gone)
        .execute();
      expect(deletedGrams).toEqual([]);
      const pending = await db
        .selectFrom('job_outputs')
        .select('id')
        .where('search_indexed', '=', 0)
        .execute();
      expect(pending).toEqual([]);
    } finally {
      await destroy();
    }
  });
});

describe.each(DIALECTS)('the gallery layout migration on %s', (dialect) => {
  it("copies each job's prompt into its outputs and keeps ids unique", async () => {
    const names = Object.keys(migrations).sort();
    const before = names[names.indexOf('2026-12-01-14-03-job-outputs-by-user') - 1]!;
    const { db, destroy } = await databaseUpTo(dialect, before);
    try {
      const userIds = [newId(), newId()];
      for (const userId of userIds) {
        await sql`insert into users (id, email, password_hash, role, credit_balance, created_at)
          values (${userId}, ${`${userId}@example.com`}, 'x', 'user', 0, 0)`.execute(db);
      }
      const made: { id: string; prompt: string }[] = [];
      for (let i = 0; i < 7; i += 1) {
        const prompt = `第${i}盏灯笼 lantern ${i}`;
        made.push({
          id: await insertOutput(db, userIds[i % 2]!, prompt, 'image', { promptCopy: false }),
          prompt,
        });
      }

      await migrateToLatest(db);

      const rows = await db.selectFrom('job_outputs').select(['id', 'prompt']).orderBy('id').execute();
      expect(rows).toEqual(made);
      // The listing now reads the copy: the same prompts, newest first, without a jobs row.
      const page = await listOutputs(db, { userId: userIds[0]!, limit: 10 });
      expect(page.items.map((o) => o.prompt)).toEqual(
        made
          .filter((_, i) => i % 2 === 0)
          .map((o) => o.prompt)
          .reverse(),
      );
      // id stays unique whatever the primary key is.
      const again = sql`insert into job_outputs (id, job_id, user_id, kind, oss_url, oss_path, size,
          content_type, sha256, meta, created_at, prompt)
        select id, job_id, ${userIds[1]!}, kind, oss_url, ${'o/another.png'}, size, content_type, sha256, meta,
          created_at, prompt from job_outputs where id = ${made[0]!.id}`;
      await expect(again.execute(db)).rejects.toThrow();
    } finally {
      await destroy();
    }
  });
});
