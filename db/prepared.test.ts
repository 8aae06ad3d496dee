import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDb, DIALECTS, type TestDb } from '../test/db.ts';
import { prepared } from './prepared.ts';
import { inTransaction } from './transaction.ts';

describe.each(DIALECTS)('prepared queries on %s', (dialect) => {
  let t: TestDb;
  beforeAll(async () => {
    t = await createTestDb(dialect);
    await t.db
      .insertInto('audit_log')
      .values(
        [1, 2, 3, 4, 5].map((n) => ({
          action: n % 2 ? 'odd' : 'even',
          actor_user_id: null,
          subject: `s${n}`,
          ip: null,
          detail: null,
          created_at: n * 100,
        })),
      )
      .execute();
  });
  afterAll(() => t?.destroy());

  // Two values of one type, used in the opposite order to their declaration: a slot put in the wrong
  // place would read the wrong rows.
  const between = prepared((db, p: { action: string; to: number; from: number }) =>
    db
      .selectFrom('audit_log')
      .select(['subject', 'created_at'])
      .where('created_at', '>=', p.from)
      .where('action', '=', p.action)
      .where('created_at', '<=', p.to)
      .orderBy('created_at'),
  );

  it('runs with each call its own values, in the places the builder used them', async () => {
    expect((await between(t.db, { action: 'odd', from: 100, to: 500 })).map((r) => r.subject)).toEqual([
      's1',
      's3',
      's5',
    ]);
    expect((await between(t.db, { action: 'even', from: 150, to: 400 })).map((r) => r.subject)).toEqual([
      's2',
      's4',
    ]);
    expect(await between(t.db, { action: 'odd', from: 400, to: 200 })).toEqual([]);
    // The same answers as the query built each time.
    const built = await t.db
      .selectFrom('audit_log')
      .select(['subject', 'created_at'])
      .where('created_at', '>=', 200)
      .where('action', '=', 'odd')
      .where('created_at', '<=', 500)
      .orderBy('created_at')
      .execute();
    expect(await between(t.db, { action: 'odd', from: 200, to: 500 })).toEqual(built);
  });

  it('runs inside a transaction, seeing its writes', async () => {
    const rows = await inTransaction(t.db, async (trx) => {
      await trx
        .insertInto('audit_log')
        .values({
          action: 'even',
          actor_user_id: null,
          subject: 's6',
          ip: null,
          detail: null,
          created_at: 600,
        })
        .execute();
      return between(trx, { action: 'even', from: 500, to: 700 });
    });
    expect(rows.map((r) => r.subject)).toEqual(['s6']);
  });
});
