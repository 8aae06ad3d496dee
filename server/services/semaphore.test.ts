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
      slots.run(null, async () => {
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

  it('gives a key (a client address) more than its share only while half the line is free', async () => {
    const slots = new Semaphore(2, 8, 3);
    const release: (() => void)[] = [];
    const hold = (key: string | null) =>
      slots.run(key, () => new Promise<string>((resolve) => release.push(() => resolve(key ?? 'none'))));
    // A quiet server: one address takes 2 running places and 4 in line, past its share of 3.
    const flood = Array.from({ length: 6 }, () => hold('10.0.0.9'));
    // Half the line taken: that address is refused, while others still get in line.
    await expect(hold('10.0.0.9')).rejects.toMatchObject({ code: 'RATE_LIMITED', reason: 'BUSY' });
    expect(() => slots.assertRoom('10.0.0.9')).toThrow(AppError);
    const others = [hold('10.0.0.10'), hold(null), hold('10.0.0.11'), hold('10.0.0.12')];
    // The line is full now, for everyone.
    await expect(hold('10.0.0.13')).rejects.toMatchObject({ reason: 'BUSY' });
    let done: string[] = [];
    const all = Promise.all([...flood, ...others]).then((names) => {
      done = names;
    });
    while (done.length === 0) {
      await new Promise((r) => setTimeout(r, 1));
      for (const r of release.splice(0)) r();
    }
    await all;
    expect(done).toEqual([...Array(6).fill('10.0.0.9'), '10.0.0.10', 'none', '10.0.0.11', '10.0.0.12']);
    // Its places given back, the flooding address is served again.
    const again = hold('10.0.0.9');
    await new Promise((r) => setTimeout(r, 1));
    for (const r of release.splice(0)) r();
    await expect(again).resolves.toBe('10.0.0.9');
  });
});
