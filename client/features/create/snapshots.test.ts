import { describe, expect, it } from 'vitest';
import type { JobView } from '../../../shared/schemas/generation.ts';
import { newer, unwrapSnapshot } from './snapshots.ts';

const job = (statusSequence: number, status: JobView['status'] = 'running'): JobView => ({
  id: 'j1',
  kind: 'video',
  status,
  stage: 'generating',
  progress: statusSequence * 10,
  statusSequence,
  model: 'demo-video',
  prompt: 'p',
  params: {},
  cost: 8,
  refunded: 0,
  createdAt: new Date(0),
  startedAt: null,
  finishedAt: null,
});

describe('job snapshots', () => {
  it('never lets an older snapshot replace a newer one', () => {
    expect(newer(job(5), job(3)).statusSequence).toBe(5);
    expect(newer(job(3), job(5, 'succeeded')).status).toBe('succeeded');
    expect(newer(undefined, job(1)).statusSequence).toBe(1);
  });

  it('unwraps tracked events and bare snapshots alike', () => {
    expect(unwrapSnapshot({ id: '4', data: job(4) })?.statusSequence).toBe(4);
    expect(unwrapSnapshot(job(2))?.statusSequence).toBe(2);
    expect(unwrapSnapshot(null)).toBeUndefined();
    expect(unwrapSnapshot({ id: 'x' })).toBeUndefined();
  });
});
