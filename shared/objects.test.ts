import { describe, expect, it } from 'vitest';
import { extended } from './objects.ts';

describe('extended', () => {
  it('is the spread: base copied, extra added and winning, neither changed', () => {
    const base = { a: 1, b: 2 };
    const extra = { b: 3, c: 4 };
    const result = extended(base, extra);
    expect(result).toStrictEqual({ ...base, ...extra });
    expect(Object.keys(result)).toEqual(['a', 'b', 'c']);
    expect(result).not.toBe(base);
    expect(base).toEqual({ a: 1, b: 2 });
    expect(extra).toEqual({ b: 3, c: 4 });
  });

  it('copies only own enumerable properties, undefined values included, as a spread does', () => {
    const base = Object.create({ inherited: true }, { own: { value: 1, enumerable: true } });
    Object.defineProperty(base, 'hidden', { value: 2, enumerable: false });
    const result = extended(base as { own: number }, { gone: undefined });
    expect(result).toStrictEqual({ own: 1, gone: undefined });
    expect('inherited' in result).toBe(false);
  });
});
