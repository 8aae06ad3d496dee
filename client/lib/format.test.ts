import { describe, expect, it } from 'vitest';
import { spentPerDay } from './format.ts';

describe('spentPerDay', () => {
  const now = new Date(2026, 4, 10, 15, 0);
  it('sums charges net of refunds per local day, oldest first, with empty days as zero', () => {
    const rows = [
      { amount: -8, kind: 'charge', createdAt: new Date(2026, 4, 10, 9) },
      { amount: 8, kind: 'refund', createdAt: new Date(2026, 4, 10, 10) },
      { amount: -2, kind: 'charge', createdAt: new Date(2026, 4, 10, 11) },
      { amount: -5, kind: 'charge', createdAt: new Date(2026, 4, 8, 23, 30) },
      { amount: 100, kind: 'signup_bonus', createdAt: new Date(2026, 4, 8) },
      { amount: -3, kind: 'charge', createdAt: new Date(2026, 3, 1) },
    ];
    const days = spentPerDay(rows, 3, now);
    expect(days).toEqual([
      { day: '2026-05-08', spent: 5 },
      { day: '2026-05-09', spent: 0 },
      { day: '2026-05-10', spent: 2 },
    ]);
  });
});
