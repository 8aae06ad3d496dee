import { type Kysely, type RawBuilder, sql } from 'kysely';
import { forceIndex, straightJoin } from '../../db/dialect.ts';
import { toPage } from '../../db/paging.ts';
import type { Database, ListedOutput } from '../../db/schema.ts';
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

/** The columns of ListedOutput: what a view is made of, not the whole row. */
const LISTED_COLUMNS = sql.raw(
  'o.id, o.job_id, o.kind, o.oss_path, o.size, o.content_type, o.meta, o.created_at, o.prompt',
);

/**
 * The user's live outputs, newest first (each with its job's prompt, copied into the row); id cursor. Each
 * filter is one index range (job_outputs_user_live_idx / job_outputs_user_kind_idx) over rows stored
 * together on MySQL (primary key user_id, id); a search goes through the gram index (searchOutputs).
 */
export async function listOutputs(
  db: Kysely<Database>,
  input: ListOutputsInput,
): Promise<{ items: ListedOutput[]; nextCursor: string | null }> {
  if (input.q) return searchOutputs(db, { ...input, q: input.q });
  const { rows } = await sql<ListedOutput>`
    select ${LISTED_COLUMNS} from job_outputs o ${forceIndex(db, liveIndex(input.kind))}
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

/** From this many postings a gram is "common": reading further would cost more than it tells. */
const COMMON_POSTINGS = 1000;
/** Candidates whose rows are read at once, at most (the first read takes a page's worth). */
const MAX_ROW_BATCH = 2000;

const gramWhere = (c: GramCondition) =>
  'gram' in c ? sql`g.gram = ${c.gram}` : sql`g.gram >= ${c.from} and g.gram < ${c.to}`;

/** 1 when outputs of the user wait to be indexed (one look at job_outputs_search_pending_idx), else 0. */
const pendingOf = (userId: string) =>
  sql`exists (select 1 from job_outputs p where p.user_id = ${userId} and p.search_indexed = 0)`;

interface SearchStats {
  /** Outputs of the user not indexed yet. */
  pending: boolean;
  /** Per condition: its postings (output ids, below the cursor), or null when it has `cap` or more. */
  postings: (string[] | null)[];
  /** Live outputs of the asked kind below the cursor, counted up to `cap`. */
  ofKind: number;
  /** For a lone condition and a kind filter: its postings below the cursor, counted up to `cap`. */
  count: number;
  /** For a lone prefix: the first gram it covers, and whether it covers more. */
  grams: { first: string | null; more: boolean };
}

/**
 * One statement for what a search must know before it reads rows: whether outputs wait to be indexed,
 * how many outputs of the asked kind there are, and each condition's postings when they are fewer than
 * `cap` (read from the gram index alone). A lone condition is not listed: it is counted when a kind
 * filter needs the count (reading up to `cap` postings), and a lone prefix says whether it covers a single
 * gram ("lantern" may index only "lanterns": two index dives); its postings are listed only when it
 * covers several.
 */
async function searchStats(
  db: Kysely<Database>,
  input: ListOutputsInput,
  conditions: GramCondition[],
  cap: number,
  lone?: GramCondition,
): Promise<SearchStats> {
  const postings = (c: GramCondition) => sql`
    select g.output_id as id from output_search_grams g
    where g.user_id = ${input.userId} and ${gramWhere(c)}
      ${input.cursor ? sql`and g.output_id < ${input.cursor}` : sql``}
    limit ${cap}`;
  const prefix = lone && !('gram' in lone) ? lone : undefined;
  const minGram = (above: RawBuilder<unknown> | null) =>
    prefix
      ? sql`(select min(g.gram) from output_search_grams g
          where g.user_id = ${input.userId} and g.gram < ${prefix.to}
            and ${above ? sql`g.gram > ${above}` : sql`g.gram >= ${prefix.from}`})`
      : sql`null`;
  const first = minGram(null);
  const next = minGram(first);
  const lists = conditions.map((c, i) => {
    const list = sql`(select group_concat(t.id) from (${postings(c)}) t)`;
    const value = !lone
      ? list
      : prefix
        ? sql`case when ${next} is null then null else ${list} end`
        : sql`null`;
    return sql`, ${value} as ${sql.ref(`c${i}`)}`;
  });
  // Counting reads up to `cap` postings: only a kind filter needs the count.
  const count = lone && input.kind ? sql`(select count(*) from (${postings(lone)}) n)` : sql`0`;
  const ofKind = input.kind
    ? sql`(select count(*) from (
        select 1 as one from job_outputs o ${forceIndex(db, liveIndex(input.kind))}
        where o.user_id = ${input.userId} and o.deleted_at is null and o.kind = ${input.kind}
          ${input.cursor ? sql`and o.id < ${input.cursor}` : sql``}
        limit ${cap}
      ) k)`
    : sql`0`;
  const { rows } = await sql<Record<string, string | number | null>>`
    select ${pendingOf(input.userId)} as pending, ${ofKind} as of_kind, ${count} as n,
      ${first} as first, ${next} as next ${sql.join(lists, sql``)}`.execute(db);
  const row = rows[0] ?? {};
  return {
    pending: Number(row.pending ?? 0) > 0,
    postings: conditions.map((_, i) => {
      const list = row[`c${i}`];
      const ids = typeof list === 'string' && list !== '' ? list.split(',') : [];
      return ids.length >= cap ? null : ids;
    }),
    ofKind: Number(row.of_kind ?? 0),
    count: Number(row.n ?? 0),
    grams: { first: typeof row.first === 'string' ? row.first : null, more: row.next != null },
  };
}

/** The outputs in every list, newest first. */
const intersect = (lists: string[][]): string[] => {
  const [shortest, ...others] = [...lists].sort((a, b) => a.length - b.length);
  const sets = others.map((list) => new Set(list));
  return [...new Set(shortest)]
    .filter((id) => sets.every((set) => set.has(id)))
    .sort()
    .reverse();
};

/**
 * Search by prompt, in one or two statements when nothing waits to be indexed:
 * - a lone term that is one gram (灯笼; or a word or character that starts only one indexed word, such
 *   as lantern → lanterns) reads that gram's postings newest first with their rows, stopping when the
 *   page is full;
 * - otherwise one statement (searchStats) gives each rare condition's postings, and their intersection
 *   is the candidates, read by primary key a page at a time;
 * - when every condition is common (matches are dense), or the asked kind has fewer outputs than there
 *   are candidates, the user's newest outputs (of that kind) are read in order instead.
 * Every row is checked against every term on job_outputs.search_text, the kind and deleted_at.
 */
async function searchOutputs(
  db: Kysely<Database>,
  input: ListOutputsInput & { q: string },
): Promise<{ items: ListedOutput[]; nextCursor: string | null }> {
  const query = parseQuery(input.q);
  if (!query) return { items: [], nextCursor: null };
  const cap = input.commonPostings ?? COMMON_POSTINGS;
  const checks = sql.join(
    query.patterns.map((p) => sql`o.search_text like ${p}`),
    sql` and `,
  );
  const filters = sql`o.user_id = ${input.userId} and o.deleted_at is null
    ${input.kind ? sql`and o.kind = ${input.kind}` : sql``} and ${checks}`;
  const wanted = input.limit + 1;
  const none = { items: [], nextCursor: null };

  // One gram's postings are the answer. Each row also says, read in the same statement, whether outputs
  // wait to be indexed (unless that is known already); when they do, they are indexed and the page is read
  // again.
  const onePage = async (gram: string, pendingKnown: boolean) => {
    const page = () =>
      sql<ListedOutput & { pending: number | string }>`
        select ${LISTED_COLUMNS}, ${pendingKnown ? sql`0` : pendingOf(input.userId)} as pending
        from output_search_grams g ${straightJoin(db)} job_outputs o
          on o.user_id = g.user_id and o.id = g.output_id
        where g.user_id = ${input.userId} and g.gram = ${gram}
          ${input.cursor ? sql`and g.output_id < ${input.cursor}` : sql``} and ${filters}
        order by g.output_id desc limit ${wanted}`.execute(db);
    let { rows } = await page();
    // An empty page carries no answer, and a look of its own could miss outputs indexed meanwhile by
    // another search: index (or wait for that search), then read again.
    if (!pendingKnown && (rows.length === 0 || Number(rows[0]!.pending) > 0)) {
      await indexOutputsForSearch(db, input.userId);
      ({ rows } = await page());
    }
    return toPage(
      rows.map(({ pending: _, ...row }) => row),
      input.limit,
      (o) => o.id,
    );
  };
  // A lone condition of one gram: that gram's postings are the answer (see onePage), unless the asked kind
  // has fewer outputs than the gram has postings, or both are common: then the outputs of that kind are
  // read in order.
  const lone = query.conditions.length === 1 && cap > 1 ? query.conditions[0] : undefined;
  if (lone && 'gram' in lone && !input.kind) return onePage(lone.gram, false);
  let stats = await searchStats(db, input, query.conditions, cap, lone);
  if (stats.pending) {
    await indexOutputsForSearch(db, input.userId);
    stats = await searchStats(db, input, query.conditions, cap, lone);
  }
  const oneGram = !lone ? null : 'gram' in lone ? lone.gram : stats.grams.more ? null : stats.grams.first;
  if (lone && !('gram' in lone) && stats.grams.first === null) return none;
  if (lone && input.kind && stats.count === 0) return none;
  const fewOfKind = !!input.kind && (stats.count >= cap || stats.ofKind < stats.count);
  if (oneGram !== null && !fewOfKind) return onePage(oneGram, true);
  // Otherwise the candidates are the intersection of the rare conditions' postings.
  let candidates: string[] | null = null;
  if (oneGram === null) {
    if (stats.postings.some((list) => list?.length === 0)) return none;
    const rare = stats.postings.filter((list) => list !== null);
    if (rare.length > 0) candidates = intersect(rare);
    if (candidates?.length === 0) return none;
  }

  // Every condition common, or "Videos" of a user with few videos: reading those in order beats reading
  // the candidates.
  if (!candidates || (input.kind && stats.ofKind < candidates.length)) {
    const { rows } = await sql<ListedOutput>`
      select ${LISTED_COLUMNS} from job_outputs o ${forceIndex(db, liveIndex(input.kind))}
      where ${filters} ${input.cursor ? sql`and o.id < ${input.cursor}` : sql``}
      order by o.id desc limit ${wanted}`.execute(db);
    return toPage(rows, input.limit, (o) => o.id);
  }

  // Candidates hold every term's grams, so nearly all pass: a page's worth first, then larger batches.
  const found: ListedOutput[] = [];
  let from = 0;
  let batch = wanted;
  while (found.length < wanted && from < candidates.length) {
    const ids = candidates.slice(from, from + batch);
    const { rows } = await sql<ListedOutput>`
      select ${LISTED_COLUMNS} from job_outputs o ${forceIndex(db, 'primary')}
      where o.id in (${sql.join(ids)}) and ${filters}
      order by o.id desc limit ${wanted - found.length}`.execute(db);
    found.push(...rows);
    from += ids.length;
    batch = Math.min(batch * 4, MAX_ROW_BATCH);
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
