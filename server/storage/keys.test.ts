import { describe, expect, it } from 'vitest';
import { keyForOutput, objectKey } from './keys.ts';
import { imageDimensions, sniffType } from './sniff.ts';

describe('object keys', () => {
  it('builds prefix/user/yyyy/mm/dd/job/index.ext from the UTC date', () => {
    // 23:30 on the 31st in UTC-5 is already the 1st of the next month in UTC.
    const date = new Date('2026-01-31T23:30:00-05:00');
    expect(objectKey({ prefix: 'outputs', userId: 42, jobId: 'job_1', index: 2, ext: 'mp4', date })).toBe(
      'outputs/42/2026/02/01/job_1/2.mp4',
    );
    expect(keyForOutput({ userId: 'u1', jobId: 'j1', index: 0, date })('png')).toBe(
      'outputs/u1/2026/02/01/j1/0.png',
    );
  });

  it('refuses anything that is not an id, so no user text reaches a key', () => {
    const date = new Date();
    expect(() => objectKey({ userId: '../x', jobId: 'j', index: 0, ext: 'png', date })).toThrow();
    expect(() => objectKey({ userId: 'u', jobId: 'a cat.png', index: 0, ext: 'png', date })).toThrow();
    expect(() => objectKey({ userId: 'u', jobId: 'j', index: 0, ext: 'html', date })).toThrow();
    expect(() => objectKey({ userId: 'u', jobId: 'j', index: -1, ext: 'png', date })).toThrow();
  });
});

describe('sniffing', () => {
  it('recognises the five stored types by their magic bytes', () => {
    expect(sniffType(Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex'))?.contentType).toBe('image/png');
    expect(sniffType(Buffer.from('ffd8ffe000104a464946', 'hex'))?.contentType).toBe('image/jpeg');
    expect(sniffType(Buffer.from('RIFF\x10\0\0\0WEBPVP8 ', 'latin1'))?.contentType).toBe('image/webp');
    expect(sniffType(Buffer.from('\0\0\0\x18ftypisom', 'latin1'))?.contentType).toBe('video/mp4');
    expect(sniffType(Buffer.from('1a45dfa39f4286810142f7', 'hex'))?.contentType).toBe('video/webm');
    expect(sniffType(Buffer.from('<!doctype html>'))).toBeNull();
    expect(sniffType(Buffer.from('GIF89a'))).toBeNull();
  });

  it('reads WebP dimensions from VP8X and VP8L headers', () => {
    const vp8x = Buffer.alloc(30);
    vp8x.write('RIFF', 0, 'latin1');
    vp8x.write('WEBPVP8X', 8, 'latin1');
    vp8x.writeUIntLE(799, 24, 3);
    vp8x.writeUIntLE(599, 27, 3);
    const type = sniffType(vp8x)!;
    expect(imageDimensions(type, vp8x)).toEqual({ width: 800, height: 600 });

    const vp8l = Buffer.alloc(30);
    vp8l.write('RIFF', 0, 'latin1');
    vp8l.write('WEBPVP8L', 8, 'latin1');
    vp8l[20] = 0x2f;
    vp8l.writeUInt32LE((1023 & 0x3fff) | ((511 & 0x3fff) << 14), 21);
    expect(imageDimensions(type, vp8l)).toEqual({ width: 1024, height: 512 });
  });
});
