/** Time as a dependency, so tests can move it. */
export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** What `withinMs` rejects with when the time is up. */
export class NoAnswerInTime extends Error {
  constructor(readonly ms: number) {
    super(`no answer within ${ms} ms`);
  }
}

/** `promise`, or a NoAnswerInTime rejection once `ms` have passed (the promise itself runs on). */
export function withinMs<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new NoAnswerInTime(ms)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}
