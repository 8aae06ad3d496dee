import { randomBytes } from 'node:crypto';
import { mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderDemoMp4 } from '../providers/demo-media.ts';
import { bytesReader, readMp4Info } from './mp4-info.ts';

let dir: string;
let counter = 0;

const infoOf = async (bytes: Buffer) => {
  const file = join(dir, `clip-${counter++}.mp4`);
  await writeFile(file, bytes);
  const handle = await open(file, 'r');
  try {
    const fromFile = await readMp4Info(handle, bytes.length);
    // The same boxes read from memory (persist's path for inline bytes) give the same answer.
    expect(await readMp4Info(bytesReader(bytes), bytes.length)).toEqual(fromFile);
    return fromFile;
  } finally {
    await handle.close();
  }
};

const box = (type: string, body: Buffer): Buffer => {
  const header = Buffer.alloc(8);
  header.writeUInt32BE(8 + body.length, 0);
  header.write(type, 4, 'latin1');
  return Buffer.concat([header, body]);
};

/** Top-level boxes of an MP4, as [type, bytes]. */
const topBoxes = (buf: Buffer): [string, Buffer][] => {
  const out: [string, Buffer][] = [];
  for (let offset = 0; offset + 8 <= buf.length; ) {
    const size = buf.readUInt32BE(offset);
    out.push([buf.toString('latin1', offset + 4, offset + 8), buf.subarray(offset, offset + size)]);
    offset += size;
  }
  return out;
};

const clips = new Map<string, Buffer>();

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mp4-info-'));
  // The demo provider's sizes (480p = 832×480, 720p = 1280×720) and others: portrait, tiny square.
  const sizes: [number, number, number][] = [
    [832, 480, 2],
    [1280, 720, 1],
    [480, 832, 2],
    [64, 64, 1],
  ];
  for (const [width, height, durationSeconds] of sizes) {
    clips.set(`${width}x${height}`, await renderDemoMp4({ width, height, durationSeconds, seed: width }));
  }
}, 120_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('readMp4Info', () => {
  it.each([
    ['832x480', 832, 480, 2],
    ['1280x720', 1280, 720, 1],
    ['480x832', 480, 832, 2],
    ['64x64', 64, 64, 1],
  ])('reads %s and the duration from a demo-provider MP4', async (name, width, height, seconds) => {
    const info = await infoOf(clips.get(name)!);
    expect(info.width).toBe(width);
    expect(info.height).toBe(height);
    expect(info.durationSeconds).toBeCloseTo(seconds, 1);
  });

  it('finds moov after mdat (no faststart)', async () => {
    const boxes = topBoxes(clips.get('832x480')!);
    expect(boxes.map(([type]) => type)).toContain('moov');
    const moovLast = Buffer.concat([
      ...boxes.filter(([type]) => type !== 'moov').map(([, b]) => b),
      ...boxes.filter(([type]) => type === 'moov').map(([, b]) => b),
    ]);
    expect(await infoOf(moovLast)).toMatchObject({ width: 832, height: 480 });
  });

  it('swaps width and height when the track matrix turns the picture a quarter', async () => {
    const bytes = Buffer.from(clips.get('832x480')!);
    const at = bytes.indexOf('tkhd', 0, 'latin1');
    expect(at).toBeGreaterThan(0);
    const body = at + 4;
    const matrix = body + (bytes[body] === 1 ? 52 : 40);
    // 90°: a = 0, b = 1.0, c = -1.0, d = 0 (16.16 fixed point).
    bytes.writeInt32BE(0, matrix);
    bytes.writeInt32BE(0x10000, matrix + 4);
    bytes.writeInt32BE(-0x10000, matrix + 12);
    bytes.writeInt32BE(0, matrix + 16);
    expect(await infoOf(bytes)).toMatchObject({ width: 480, height: 832 });
  });

  it('gives no size or duration for truncated files, and never throws', async () => {
    const whole = clips.get('832x480')!;
    const moovAt = whole.indexOf('moov', 0, 'latin1') - 4;
    for (const length of [0, 7, 8, 20, moovAt + 4, moovAt + 100, moovAt + 400]) {
      const info = await infoOf(whole.subarray(0, length));
      expect(info.width).toBeUndefined();
      expect(info.height).toBeUndefined();
    }
  });

  it('gives nothing for garbage, huge or zero box sizes, and never throws', async () => {
    const huge = Buffer.alloc(16);
    huge.writeUInt32BE(1, 0);
    huge.write('moov', 4, 'latin1');
    huge.writeBigUInt64BE(2n ** 62n, 8);
    const tiny = Buffer.alloc(8);
    tiny.writeUInt32BE(3, 0);
    tiny.write('moov', 4, 'latin1');
    const emptyTkhd = box('moov', box('trak', box('tkhd', Buffer.alloc(10))));
    for (const bytes of [
      randomBytes(4096),
      Buffer.alloc(4096),
      huge,
      tiny,
      emptyTkhd,
      box('moov', box('mvhd', Buffer.from([0, 0, 0, 0]))),
      Buffer.concat([box('ftyp', Buffer.from('isom')), box('moov', randomBytes(500))]),
    ]) {
      const info = await infoOf(bytes);
      expect(info.width).toBeUndefined();
      expect(info.height).toBeUndefined();
    }
  });

  it('reads a version-0 mvhd duration from a hand-made moov', async () => {
    const mvhd = Buffer.alloc(100);
    mvhd.writeUInt32BE(1000, 12);
    mvhd.writeUInt32BE(4500, 16);
    expect(await infoOf(box('moov', box('mvhd', mvhd)))).toEqual({ durationSeconds: 4.5 });
  });
});
