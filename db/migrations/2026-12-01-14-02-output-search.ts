import { type Kysely, MysqlAdapter, sql } from 'kysely';

/**
 * Search by prompt (issue 14) on MariaDB and SQLite alike: MariaDB FULLTEXT has no ngram parser and drops
 * tokens under 3 characters, SQLite FTS5 trigram needs 3, and a two-character term such as 灯笼 must be
 * found. So: an n-gram side table, output_search_grams (user_id, gram, output_id), where a CJK run gives its
 * character bigrams (and its last character) and any other word gives itself, lower-cased; and
 * job_outputs.search_text, the normalised prompt the final check runs on. search_indexed says an output's
 * grams are written: outputs stored later are indexed by the search itself (server/services/outputs.ts).
 * This migration indexes the outputs that exist. The tokenizer is a frozen copy of
 * server/services/search-text.ts (migrations import no app code).
 */

const CJK = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}]/u;
const RUNS = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}]+|[\p{L}\p{N}\p{M}]+/gu;
const GRAM_MAX_LENGTH = 32;

const runsOf = (text: string) =>
  Array.from(text.normalize('NFKC').toLowerCase().matchAll(RUNS), ([run]) => ({
    text: run,
    cjk: CJK.test(run),
  }));

const searchTextOf = (prompt: string): string =>
  runsOf(prompt)
    .map((run) => ` ${run.text}`)
    .join('');

const gramsOf = (prompt: string): string[] => {
  const grams = new Set<string>();
  for (const run of runsOf(prompt)) {
    if (!run.cjk) {
      grams.add(Array.from(run.text).slice(0, GRAM_MAX_LENGTH).join(''));
      continue;
    }
    const chars = Array.from(run.text);
    for (let i = 0; i + 1 < chars.length; i += 1) grams.add(chars[i]! + chars[i + 1]!);
    grams.add(chars.at(-1)!);
  }
  return [...grams];
};

const BATCH = 500;

export async function up(db: Kysely<any>): Promise<void> {
  const mysql = db.getExecutor().adapter instanceof MysqlAdapter;
  // Grams and search text compare byte for byte (they are lower-cased already): exact, and prefix ranges
  // sort the same on both dialects.
  const binary = (type: string) =>
    mysql ? sql.raw(`${type} character set utf8mb4 collate utf8mb4_bin`) : type;
  await db.schema
    .createTable('output_search_grams')
    .addColumn('user_id', 'varchar(36)', (c) => c.notNull())
    .addColumn('gram', binary('varchar(32)') as 'text', (c) => c.notNull())
    .addColumn('output_id', 'varchar(36)', (c) => c.notNull())
    .addPrimaryKeyConstraint('output_search_grams_pk', ['user_id', 'gram', 'output_id'])
    .execute();
  await db.schema
    .alterTable('job_outputs')
    .addColumn('search_text', binary('text') as 'text')
    .execute();
  await db.schema
    .alterTable('job_outputs')
    .addColumn('search_indexed', 'smallint', (c) => c.notNull().defaultTo(0))
    .execute();
  await db.schema
    .createIndex('job_outputs_search_pending_idx')
    .on('job_outputs')
    .columns(['user_id', 'search_indexed'])
    .execute();

  // Backfill, in id order, a batch at a time.
  let after = '';
  for (;;) {
    const rows: { id: string; user_id: string; deleted_at: number | null; prompt: string }[] = await db
      .selectFrom('job_outputs')
      .innerJoin('jobs', 'jobs.id', 'job_outputs.job_id')
      .select(['job_outputs.id', 'job_outputs.user_id', 'job_outputs.deleted_at', 'jobs.prompt'])
      .where('job_outputs.id', '>', after)
      .orderBy('job_outputs.id')
      .limit(BATCH)
      .execute();
    if (rows.length === 0) break;
    const grams = rows.flatMap((row) =>
      row.deleted_at === null
        ? gramsOf(row.prompt).map((gram) => ({ user_id: row.user_id, gram, output_id: row.id }))
        : [],
    );
    for (let i = 0; i < grams.length; i += BATCH) {
      await db
        .insertInto('output_search_grams')
        .orIgnore()
        .values(grams.slice(i, i + BATCH))
        .execute();
    }
    for (const row of rows) {
      await db
        .updateTable('job_outputs')
        .set({ search_text: searchTextOf(row.prompt), search_indexed: 1 })
        .where('id', '=', row.id)
        .execute();
    }
    after = rows.at(-1)!.id;
  }
}

export async function down(db: Kysely<any>): Promise<void> {
  const mysql = db.getExecutor().adapter instanceof MysqlAdapter;
  const drop = db.schema.dropIndex('job_outputs_search_pending_idx');
  await (mysql ? drop.on('job_outputs') : drop).execute();
  await db.schema.alterTable('job_outputs').dropColumn('search_indexed').execute();
  await db.schema.alterTable('job_outputs').dropColumn('search_text').execute();
  await db.schema.dropTable('output_search_grams').execute();
}
