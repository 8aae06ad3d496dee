import { type Kysely, MysqlAdapter, sql } from 'kysely';

/**
 * A page of the gallery from one place on disk (issue 14, item 8). Outputs were stored in id order, so a
 * user's outputs lay among everyone's: a page of 30 read about 30 table pages of job_outputs and 30 of
 * jobs (for the prompt), from disk when the rows were old (5–6 ms at 1M outputs, 128 MB buffer pool).
 * Now:
 * - job_outputs.prompt: a copy of the job's prompt (a prompt never changes once the job exists), so a
 *   listing reads no jobs row;
 * - on MySQL the primary key is (user_id, id), so InnoDB stores a user's outputs together and in order:
 *   a page is one or two table pages. `id` stays unique (job_outputs_id_uq). SQLite keeps its rowid table:
 *   it has no clustered primary key to choose, and its databases are small.
 * The backfill runs before the rebuild, while the rows are still in id order (as are the jobs).
 */
const BATCH = 5000;

export async function up(db: Kysely<any>): Promise<void> {
  const mysql = db.getExecutor().adapter instanceof MysqlAdapter;
  // A default, so a row inserted without it (an operator's script, a tool written from SPEC's table)
  // still goes in; varchar, since MySQL allows no literal default on text (prompts are at most 2,000).
  await db.schema
    .alterTable('job_outputs')
    .addColumn('prompt', sql`varchar(2000)`, (c) => c.notNull().defaultTo(''))
    .execute();

  let after = '';
  for (;;) {
    const last = await db
      .selectFrom('job_outputs')
      .select('id')
      .where('id', '>', after)
      .orderBy('id')
      .offset(BATCH - 1)
      .limit(1)
      .executeTakeFirst();
    await db
      .updateTable('job_outputs')
      .set({ prompt: sql`(select j.prompt from jobs j where j.id = job_outputs.job_id)` })
      .where('id', '>', after)
      .$if(last !== undefined, (q) => q.where('id', '<=', last!.id))
      .execute();
    if (!last) break;
    after = last.id;
  }

  if (mysql) {
    await sql`alter table job_outputs
      drop primary key, add primary key (user_id, id), add unique key job_outputs_id_uq (id),
      drop index job_outputs_user_idx`.execute(db);
  }
}

export async function down(db: Kysely<any>): Promise<void> {
  if (db.getExecutor().adapter instanceof MysqlAdapter) {
    await sql`alter table job_outputs
      drop primary key, add primary key (id), drop index job_outputs_id_uq,
      add index job_outputs_user_idx (user_id, id)`.execute(db);
  }
  await db.schema.alterTable('job_outputs').dropColumn('prompt').execute();
}
