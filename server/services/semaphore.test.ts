import { describe, expect, it } from 'vitest';
import { AppError } from '../../shared/errors.ts';
import { Semaphore } from './semaphore.ts';

describe('the password-hash semaphore', () => {
  it('runs at most `size` at once, queues `maxWaiting`, and refuses the rest at once with BUSY', async () => {
    const slots = new Semaphore(2, 3);
    let running = 0;
    let peak = 0;
    const release: (() => void)[] = [];
    const task = () =>
      slots.run(async () => {
        running += 1;
        peak = Math.max(peak, running);
        await new Promise<void>((resolve) => release.push(resolve));
        running -= 1;
        return 'done';
      });
    const accepted = Array.from({ length: 5 }, task);
    const refused = await task().catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(AppError);
    expect(refused).toMatchObject({ code: 'RATE_LIMITED', reason: 'BUSY' });
    let finished = false;
    const all = Promise.all(accepted).finally(() => {
      finished = true;
    });
    while (!finished) {
      await new Promise((r) => setTimeout(r, 1));
      for (const r of release.splice(0)) r();
    }
    await all;
    expect(await Promise.all(accepted)).toEqual(['done', 'done', 'done', 'done', 'done']);
    expect(peak).toBe(2);
    // Freed: a new task runs again.
    const again = task();
    await new Promise((r) => setTimeout(r, 1));
    for (const r of release.splice(0)) r();
    await expect(again).resolves.toBe('done');
  });
});
