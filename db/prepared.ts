import { type Compilable, type CompiledQuery, createQueryId } from 'kysely';
import type { Executor } from './transaction.ts';

/** Stands for a value in a prepared query's builder: where it lands in the compiled query's parameters. */
class Slot {
  constructor(readonly name: string) {}
}

/**
 * A query of a fixed shape, built and compiled by Kysely once per database, then executed with each
 * call's values. `build` gets one placeholder per value (`p.tokenHash`; type `p` as the values), used
 * where the value would be; the compiled query's parameters hold them in its order, and each run puts
 * the call's values in their places. For the read every signed-in request makes first (the session):
 * building and compiling it cost about as much main-thread time as sending it and reading its row.
 * Only for values that are parameters (comparisons, inserted values), never for lists whose length
 * varies (`in`), names or raw SQL.
 */
export function prepared<Values extends Record<string, unknown>, Row>(
  build: (db: Executor, p: Values) => Compilable<Row>,
): (db: Executor, values: Values) => Promise<Row[]> {
  const compiled = new WeakMap<Executor, CompiledQuery<Row>>();
  // Typed as the values they stand for, so the builder type-checks as if it were given them.
  const placeholders = new Proxy({} as Values, {
    get: (_, name) => new Slot(String(name)),
  });
  return async (db, values) => {
    // A transaction compiles as its database does; each is a Kysely of its own, so it gets its own entry.
    let query = compiled.get(db);
    if (!query) {
      query = build(db, placeholders).compile();
      compiled.set(db, query);
    }
    const parameters = query.parameters.map((p) => (p instanceof Slot ? values[p.name] : p));
    const { rows } = await db.executeQuery<Row>({ ...query, parameters, queryId: createQueryId() });
    return rows;
  };
}
