import { describe, expect, it } from 'vitest';
import { isTerminalState, normaliseState } from './normalise.ts';

describe('normaliseState', () => {
  it.each([
    ['PENDING', 'queued'],
    ['queued', 'queued'],
    ['submitted', 'queued'],
    ['RUNNING', 'running'],
    ['in_progress', 'running'],
    ['In Progress', 'running'],
    ['processing', 'running'],
    ['SUCCEEDED', 'succeeded'],
    ['SUCCESS', 'succeeded'],
    ['succeed', 'succeeded'],
    ['completed', 'succeeded'],
    ['FAILED', 'failed'],
    ['failed', 'failed'],
    ['expired', 'failed'],
    ['CANCELED', 'canceled'],
    ['CANCELLED', 'canceled'],
    ['cancelled', 'canceled'],
    ['UNKNOWN', 'unknown'],
    ['something-new', 'unknown'],
    [undefined, 'unknown'],
    [42, 'unknown'],
  ])('maps %s to %s', (raw, expected) => {
    expect(normaliseState(raw)).toBe(expected);
  });

  it('treats succeeded, failed, canceled and unknown as terminal', () => {
    expect(isTerminalState('succeeded')).toBe(true);
    expect(isTerminalState('failed')).toBe(true);
    expect(isTerminalState('canceled')).toBe(true);
    expect(isTerminalState('unknown')).toBe(true);
    expect(isTerminalState('queued')).toBe(false);
    expect(isTerminalState('running')).toBe(false);
  });
});
