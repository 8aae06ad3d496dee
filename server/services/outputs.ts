import { type Kysely, sql } from 'kysely';
import { forceIndex } from '../../db/dialect.ts';
import { toPage } from '../../db/paging.ts';
import type { Database, JobOutput } from '../../db/schema.ts';
import { inTransaction } from '../../db/transaction.ts';
import { AppError } from '../../shared/errors.ts';
import type { Storage } from '../storage/storage.ts';
import { type GramCondition, gramsOf, parseQuery, searchTextOf } from './search-text.ts';

export interface ListOutputsInput {
  userId: string;
  cursor?: string | null;
  limit: number;
  kind?: 'image' | 'video';
  /** Search text (validated by OutputsListInput); empty or absent: no search. */
  q?: string;
  /** Postings from which a gram counts as common (default 1000); tests lower it to take the scan path. */
  commonPostings?: number;
}

/**
 * The user's live outputs, newest first (each with its job's prompt, copied into the row); id cursor. Each
 * filter is one index range (job_outputs_user_live_idx / job_outputs_user_kind_idx) over rows stored
 * together on MySQL (primary key user_id, id); a search goes through the gram index (searchOutputs).
 */
export async function listOutputs(
  db: Kysely<Database>,
  input: ListOutputsInput,
): Promise<{ items: JobOutput[]; nextCursor: string | null }> {
  if (input.q) return searchOutputs(db, { ...input, q: input.q });
  const { rows } = await sql<JobOutput>`
    select o.* from job_outputs o ${forceIndex(db, liveIndex(input.kind))}
    where o.user_id = ${input.userId} and o.deleted_at is null
      ${input.kind ? sql`and o.kind = ${input.kind}` : sql``}
      ${input.cursor ? sql`and o.id < ${input.cursor}` : sql``}
    order by o.id desc
    limit ${input.limit + 1}`.execute(db);
  return toPage(rows, input.limit, (o) => o.id);
}

/** The index that reads a user's live outputs (of one kind) newest first. */
const liveIndex = (kind: 'image' | 'video' | undefined) =>
  kind ? 'job_outputs_user_kind_idx' : 'job_outputs_user_live_idx';

const INDEX_BATCH = 200;
const GRAM_INSERT_BATCH = 500;

/**
 * Writes the search grams of the user's outputs not indexed yet (stored since the last search, whoever
 * stored them), so search needs no hook in the code that stores outputs. Safe to run concurrently: grams
 * are inserted or ignored, and the flag only goes from 0 to 1. Exported so a caller that stores outputs
 * may index them at once.
 */
export async function indexOutputsForSearch(db: Kysely<Database>, userId: string): Promise<number> {
  let indexed = 0;
  for (;;) {
    const rows = await db
      .selectFrom('job_outputs')
      .select(['id', 'deleted_at', 'prompt'])
      .where('user_id', '=', userId)
      .where('search_indexed', '=', 0)
      .limit(INDEX_BATCH)
      .execute();
    if (rows.length === 0) return indexed;
    await inTransaction(db, async (trx) => {
      const grams = rows.flatMap((row) =>
        row.deleted_at === null
          ? gramsOf(row.prompt).map((gram) => ({ user_id: userId, gram, output_id: row.id }))
          : [],
      );
      for (let i = 0; i < grams.length; i += GRAM_INSERT_BATCH) {
        await trx
          .insertInto('output_search_grams')
          .orIgnore()
          .values(grams.slice(i, i + GRAM_INSERT_BATCH))
          .execute();
      }
      for (const row of rows) {
        await trx
          .updateTable('job_outputs')
          .set({ search_text: searchTextOf(row.prompt), search_indexed: 1 })
          .where('user_id', '=', userId)
          .where('id', '=', row.id)
          .execute();
      }
    });
    indexed += rows.length;
    if (rows.length < INDEX_BATCH) return indexed;
  }
}

/** From this many postings a gram is "common": counting further would cost more than it tells. */
const COMMON_POSTINGS = 1000;

const gramWhere = (c: GramCondition) =>
  'gram' in c ? sql`g.gram = ${c.gram}` : sql`g.gram >= ${c.from} and g.gram < ${c.to}`;

/**
 * Search by prompt. Rare terms drive from the most selective gram's postings (newest first); when every
 * term is common, matches are dense, so the user's newest outputs are read in order instead. Either way
 * each candidate is checked against every term on job_outputs.search_text, the kind and deleted_at, until
 * a page is full.
 */
async function searchOutputs(
  db: Kysely<Database>,
  input: ListOutputsInput & { q: string },
): Promise<{ items: JobOutput[]; nextCursor: string | null }> {
  const query = parseQuery(input.q);
  if (!query) return { items: [], nextCursor: null };
  await indexOutputsForSearch(db, input.userId);

  // One exact gram (a two-character CJK term such as 灯笼) needs no estimate: its postings are the answer.
  const cap = input.commonPostings ?? COMMON_POSTINGS;
  let driver: GramCondition | null = query.conditions[0]!;
  if (query.conditions.length > 1 || !('gram' in driver) || input.kind || cap <= 1) {
    const counts = await Promise.all(
      query.conditions.map(async (c) => {
        const { rows } = await sql<{ n: number | string }>`
          select count(*) as n from (
            select 1 as one from output_search_grams g
            where g.user_id = ${input.userId} and ${gramWhere(c)} limit ${cap}
          ) t`.execute(db);
        return Number(rows[0]?.n ?? 0);
      }),
    );
    const smallest = Math.min(...counts);
    if (smallest === 0) return { items: [], nextCursor: null };
    driver = smallest >= cap ? null : query.conditions[counts.indexOf(smallest)]!;
    if (driver && input.kind) {
      // "Videos" of a user with few videos: reading those few beats reading the term's postings.
      const { rows } = await sql<{ n: number | string }>`
        select count(*) as n from (
          select 1 as one from job_outputs o ${forceIndex(db, liveIndex(input.kind))}
          where o.user_id = ${input.userId} and o.deleted_at is null and o.kind = ${input.kind}
          limit ${smallest}
        ) t`.execute(db);
      if (Number(rows[0]?.n ?? 0) < smallest) driver = null;
    }
  }

  const checks = sql.join(
    query.patterns.map((p) => sql`o.search_text like ${p}`),
    sql` and `,
  );
  const filters = sql`o.user_id = ${input.userId} and o.deleted_at is null
    ${input.kind ? sql`and o.kind = ${input.kind}` : sql``} and ${checks}`;
  const wanted = input.limit + 1;
  if (!driver) {
    // Every term common: the user's newest live outputs, checked in order, stop early.
    const { rows } = await sql<JobOutput>`
      select o.* from job_outputs o ${forceIndex(db, liveIndex(input.kind))}
      where ${filters} ${input.cursor ? sql`and o.id < ${input.cursor}` : sql``}
      order by o.id desc limit ${wanted}`.execute(db);
    return toPage(rows, input.limit, (o) => o.id);
  }

  // Postings newest first, a batch at a time from the gram index alone (a prefix can name several words
  // of one prompt: distinct), then those outputs checked by primary key, newest first, stopping when the
  // page is full. Batches grow when few candidates pass (a kind with few outputs, deleted ones).
  const found: JobOutput[] = [];
  let before = input.cursor ?? null;
  let batch = wanted * 2;
  while (found.length < wanted) {
    const { rows: postings } = await sql<{ id: string }>`
      select ${'gram' in driver ? sql`` : sql`distinct`} g.output_id as id from output_search_grams g
      where g.user_id = ${input.userId} and ${gramWhere(driver)}
        ${before ? sql`and g.output_id < ${before}` : sql``}
      order by g.output_id desc limit ${batch}`.execute(db);
    if (postings.length === 0) break;
    const { rows } = await sql<JobOutput>`
      select o.* from job_outputs o ${forceIndex(db, 'primary')}
      where o.id in (${sql.join(postings.map((p) => p.id))}) and ${filters}
      order by o.id desc limit ${wanted - found.length}`.execute(db);
    found.push(...rows);
    if (postings.length < batch) break;
    before = postings.at(-1)!.id;
    batch = Math.min(batch * 4, 2000);
  }
  return toPage(found, input.limit, (o) => o.id);
}

/** Removes the object from storage, then marks the row deleted. Another user's output is NOT_FOUND. */
export async function deleteOutput(
  db: Kysely<Database>,
  storage: Storage,
  input: { userId: string; id: string; now: number },
): Promise<void> {
  const output = await db
    .selectFrom('job_outputs')
    .selectAll()
    .where('id', '=', input.id)
    .where('user_id', '=', input.userId)
    .where('deleted_at', 'is', null)
    .executeTakeFirst();
  if (!output) throw new AppError('NOT_FOUND', 'Output not found', { reason: 'OUTPUT_NOT_FOUND' });
  try {
    await storage.delete(output.oss_path);
  } catch (error) {
    throw new AppError('STORAGE_UPLOAD_FAILED', 'Could not delete the file from storage; try again', {
      cause: error,
      reason: 'STORAGE_DELETE_FAILED',
    });
  }
  await db
    .updateTable('job_outputs')
    .set({ deleted_at: input.now })
    .where('user_id', '=', input.userId)
    .where('id', '=', output.id)
    .execute();
  // Search skips deleted rows anyway; dropping their grams keeps the postings short.
  const grams = output.search_text === null ? [] : gramsOf(output.search_text);
  if (grams.length > 0) {
    await db
      .deleteFrom('output_search_grams')
      .where('user_id', '=', input.userId)
      .where('gram', 'in', grams)
      .where('output_id', '=', output.id)
      .execute();
  }
}
