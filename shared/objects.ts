/**
 * `{ ...base, ...extra }` where `extra` brings keys `base` lacks, made at V8's fast speed. On Node 20 an
 * object spread from `base` and then given a property `base` did not have takes a hidden class of its
 * own, each time: about 1 µs a property, and each class is old-generation garbage that brings major
 * GCs. Copying both into a fresh object (Object.assign) makes the same plain object the fast way.
 * A spread that only overwrites keys `base` has (`{ ...job, status }`) is fast and stays a spread.
 */
export function extended<B extends object, E extends object>(base: B, extra: E): Omit<B, keyof E> & E {
  return Object.assign({}, base, extra);
}
