import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import zlib from 'node:zlib';
import { PNG } from 'pngjs';
import { describe, expect, it } from 'vitest';
import { parseMp4 } from '../../test/fakes/mp4.ts';
import { createDemoProvider } from './demo.ts';
import {
  type DemoLayout,
  DemoLayoutCache,
  demoLayoutIndex,
  demoLayouts,
  LAYOUTS,
  paintDemoPng,
  renderDemoLayout,
  renderDemoPng,
} from './demo-media.ts';
import { DemoRenderPool, RENDER_THREAD_NICENESS, workerEntry } from './demo-render-pool.ts';
import type { GenerationRequest, PollResult, ProviderResult } from './provider.ts';

const image = (over: Partial<GenerationRequest> = {}): GenerationRequest => ({
  kind: 'image',
  model: 'demo-image',
  prompt: 'a lighthouse at dusk',
  size: '768x512',
  n: 1,
  seed: 7,
  ...over,
});

const bytesOf = (result: ProviderResult | undefined): Buffer => {
  if (!result || !('bytes' in result)) throw new Error('expected bytes');
  return Buffer.from(result.bytes);
};

const run = async (request: GenerationRequest): Promise<PollResult> => {
  const provider = createDemoProvider();
  const { taskId } = await provider.submit(request);
  return provider.poll(taskId);
};

describe('demo provider: images', () => {
  it('makes a real PNG of the requested size that is not a flat colour', async () => {
    const result = await run(image());
    expect(result.state).toBe('succeeded');
    const first = result.results?.[0];
    expect(first && 'contentType' in first ? first.contentType : '').toBe('image/png');
    const png = PNG.sync.read(bytesOf(first));
    expect([png.width, png.height]).toEqual([768, 512]);
    const colours = new Set<number>();
    for (let i = 0; i < png.data.length; i += 4 * 97) colours.add(png.data.readUInt32BE(i));
    expect(colours.size).toBeGreaterThan(100);
  });

  it('is deterministic from prompt and seed', async () => {
    const a = bytesOf((await run(image())).results?.[0]);
    const b = bytesOf((await run(image())).results?.[0]);
    const otherSeed = bytesOf((await run(image({ seed: 8 }))).results?.[0]);
    const otherPrompt = bytesOf((await run(image({ prompt: 'a lighthouse at dawn' }))).results?.[0]);
    expect(a.equals(b)).toBe(true);
    expect(a.equals(otherSeed)).toBe(false);
    expect(a.equals(otherPrompt)).toBe(false);
  });

  it('makes n different images', async () => {
    const result = await run(image({ n: 3, size: '512x512' }));
    expect(result.results).toHaveLength(3);
    const [a, b] = [bytesOf(result.results?.[0]), bytesOf(result.results?.[1])];
    expect(a.equals(b)).toBe(false);
  });
});

describe('demo provider: videos', () => {
  it('makes a playable H.264 MP4 of the requested duration and resolution', async () => {
    const result = await run({
      kind: 'video',
      model: 'demo-video',
      prompt: 'a paper boat',
      n: 1,
      durationSeconds: 2,
      resolution: '480p',
      seed: 1,
    });
    expect(result.state).toBe('succeeded');
    const first = result.results?.[0];
    expect(first && 'contentType' in first ? first.contentType : '').toBe('video/mp4');
    const info = parseMp4(bytesOf(first));
    expect(info.brand).toBe('isom');
    expect(Math.abs(info.durationSeconds - 2)).toBeLessThanOrEqual(0.5);
    expect([info.width, info.height]).toEqual([832, 480]);
    expect(info.faststart).toBe(true);
    expect(bytesOf(first).includes(Buffer.from('avc1'))).toBe(true);
  });

  it('honours a longer duration and 720p', async () => {
    const result = await run({
      kind: 'video',
      model: 'demo-video',
      prompt: 'a comet',
      n: 1,
      durationSeconds: 6,
      resolution: '720p',
    });
    const info = parseMp4(bytesOf(result.results?.[0]));
    expect(Math.abs(info.durationSeconds - 6)).toBeLessThanOrEqual(0.5);
    expect([info.width, info.height]).toEqual([1280, 720]);
  });
});

describe('demo provider: progress, resumption and failure markers', () => {
  it('reports running with progress until the delay has passed, then succeeds', async () => {
    let clock = 1_000_000;
    const provider = createDemoProvider({ delayMs: 1000, now: () => clock });
    const { taskId } = await provider.submit(image({ size: '512x512' }));
    clock += 250;
    expect(await provider.poll(taskId)).toEqual({ state: 'running', progress: 25 });
    clock += 750;
    expect((await provider.poll(taskId)).state).toBe('succeeded');
  });

  it('lets a fresh provider instance (another process) resume a task by its id alone', async () => {
    let clock = 5_000_000;
    const first = createDemoProvider({ delayMs: 1000, now: () => clock });
    const { taskId } = await first.submit(image({ size: '512x768', n: 2 }));
    expect((await first.poll(taskId)).state).toBe('running');
    clock += 1500;
    const fresh = createDemoProvider({ delayMs: 1000, now: () => clock });
    const resumed = await fresh.poll(taskId);
    expect(resumed.state).toBe('succeeded');
    expect(resumed.results).toHaveLength(2);
    const png = PNG.sync.read(bytesOf(resumed.results?.[0]));
    expect([png.width, png.height]).toEqual([512, 768]);
    const direct = await run(image({ size: '512x768', n: 2 }));
    expect(bytesOf(resumed.results?.[0]).equals(bytesOf(direct.results?.[0]))).toBe(true);
  });

  it('answers unknown for a task id it did not make', async () => {
    const result = await createDemoProvider().poll('nonsense');
    expect(result.state).toBe('unknown');
    expect(result.error?.code).toBe('PROVIDER_FAILED');
  });

  it('fails with PROVIDER_FAILED on [demo:fail]', async () => {
    const result = await run(image({ prompt: 'boom [demo:fail]' }));
    expect(result).toMatchObject({ state: 'failed', error: { code: 'PROVIDER_FAILED' } });
  });

  it('rejects with CONTENT_REJECTED on [demo:reject]', async () => {
    const result = await run(image({ prompt: 'naughty [demo:reject]' }));
    expect(result).toMatchObject({ state: 'failed', error: { code: 'CONTENT_REJECTED' } });
  });

  it('returns one result fewer than n on [demo:partial]', async () => {
    const result = await run(image({ prompt: 'some [demo:partial]', n: 3, size: '512x512' }));
    expect(result.state).toBe('succeeded');
    expect(result.results).toHaveLength(2);
    expect(result.failedCount).toBe(1);
  });
});

describe('demo provider: rendering off the event loop', () => {
  it('makes images on worker threads started on first use, byte for byte the same as in-thread, with their digests', async () => {
    const pool = new DemoRenderPool(2);
    try {
      const provider = createDemoProvider({ renderPool: pool });
      const { taskId } = await provider.submit(image({ n: 3, size: '256x256' }));
      expect(pool.threads).toBe(0); // nothing started by a submit
      const result = await provider.poll(taskId);
      expect(pool.threads).toBeGreaterThan(0);
      expect(result.results).toHaveLength(3);
      const again = await run(image({ n: 3, size: '256x256' }));
      for (const [i, r] of (result.results ?? []).entries()) {
        const bytes = bytesOf(r);
        expect(bytes.equals(bytesOf(again.results?.[i]))).toBe(true);
        expect('digests' in r! && r.digests).toEqual({
          sha256: createHash('sha256').update(bytes).digest('hex'),
          md5: createHash('md5').update(bytes).digest('base64'),
        });
      }
    } finally {
      await pool.close();
    }
  });

  it('keeps the event loop free while it renders', async () => {
    const pool = new DemoRenderPool(1);
    try {
      let ticks = 0;
      const timer = setInterval(() => ticks++, 5);
      const started = Date.now();
      await Promise.all(Array.from({ length: 4 }, (_, i) => pool.renderPng(1024, 1024, i)));
      const elapsed = Date.now() - started;
      clearInterval(timer);
      // A loop blocked by the renders would tick a handful of times; a free one ticks all along.
      expect(ticks).toBeGreaterThan(elapsed / 5 / 4);
    } finally {
      await pool.close();
    }
  });

  it('finds its worker script next to the module: .ts through tsx from source, .js when compiled', () => {
    const source = workerEntry('file:///srv/app/server/providers/demo-render-pool.ts');
    expect(source.url.href).toBe('file:///srv/app/server/providers/demo-render-worker.ts');
    expect(source.fromSource).toBe(true);
    const built = workerEntry('file:///srv/app/dist/server/providers/demo-render-pool.js');
    expect(built.url.href).toBe('file:///srv/app/dist/server/providers/demo-render-worker.js');
    expect(built.fromSource).toBe(false);
  });
});

/** A PNG's chunks after the signature, each one's CRC checked. */
const chunksOf = (png: Buffer): { type: string; body: Buffer }[] => {
  expect(png.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))).toBe(true);
  const chunks: { type: string; body: Buffer }[] = [];
  for (let at = 8; at < png.length; ) {
    const length = png.readUInt32BE(at);
    const end = at + 8 + length;
    expect(png.readUInt32BE(end)).toBe(zlib.crc32(png.subarray(at + 4, end)) >>> 0);
    chunks.push({ type: png.toString('latin1', at + 4, at + 8), body: png.subarray(at + 8, end) });
    at = end + 4;
  }
  return chunks;
};

const chunk = (png: Buffer, type: string): Buffer => {
  const found = chunksOf(png).find((c) => c.type === type);
  if (!found) throw new Error(`no ${type} chunk`);
  return found.body;
};

// Each test uses sizes of its own: the layouts rendered in this thread stay in `demoLayouts`.
describe('demo images: layouts painted per seed', () => {
  it('makes a valid indexed-colour PNG: signature, chunk CRCs, IHDR, one row of indices a line', () => {
    const png = renderDemoPng(200, 120, 42);
    const chunks = chunksOf(png);
    expect(chunks.map((c) => c.type)).toEqual(['IHDR', 'PLTE', 'IDAT', 'IEND']);
    const ihdr = chunk(png, 'IHDR');
    expect([ihdr.readUInt32BE(0), ihdr.readUInt32BE(4), ihdr[8], ihdr[9]]).toEqual([200, 120, 8, 3]);
    const entries = chunk(png, 'PLTE').length / 3;
    expect(Number.isInteger(entries) && entries > 1 && entries <= 256).toBe(true);
    const rows = zlib.inflateSync(chunk(png, 'IDAT'));
    expect(rows.length).toBe(120 * (200 + 1));
    const decoded = PNG.sync.read(png);
    expect([decoded.width, decoded.height]).toEqual([200, 120]);
  });

  it('paints seeds that share a layout in their own colours over the same index rows', () => {
    const [a, b] = [renderDemoPng(160, 160, 9), renderDemoPng(160, 160, 9 + LAYOUTS)];
    expect(demoLayoutIndex(9)).toBe(demoLayoutIndex(9 + LAYOUTS));
    expect(chunk(a, 'IDAT').equals(chunk(b, 'IDAT'))).toBe(true);
    expect(chunk(a, 'PLTE').length).toBe(chunk(b, 'PLTE').length);
    expect(chunk(a, 'PLTE').equals(chunk(b, 'PLTE'))).toBe(false);
  });

  it("has LAYOUTS different layouts a size, each seed's from its own geometry", () => {
    const idats = new Set<string>();
    for (let index = 0; index < LAYOUTS; index++) {
      const layout = renderDemoLayout(48, 40, index);
      idats.add(Buffer.from(layout.tail).toString('base64'));
      expect(demoLayoutIndex(index)).toBe(index);
    }
    expect(idats.size).toBe(LAYOUTS);
    expect(chunk(renderDemoPng(48, 40, 1), 'IDAT').equals(chunk(renderDemoPng(48, 40, 2), 'IDAT'))).toBe(
      false,
    );
  });

  it('gives the same bytes for a seed from this thread, from a fresh render and from the render threads', async () => {
    const pool = new DemoRenderPool(2);
    try {
      const seeds = [3, 4, 3 + LAYOUTS];
      const pooled = await Promise.all(seeds.map((seed) => pool.renderPng(240, 176, seed)));
      // Layouts 3 and 4 belong to different threads.
      expect(pool.threads).toBe(2);
      for (const [i, seed] of seeds.entries()) {
        expect(pooled[i]!.png.equals(renderDemoPng(240, 176, seed))).toBe(true);
        const fresh = paintDemoPng(renderDemoLayout(240, 176, demoLayoutIndex(seed)), seed);
        expect(pooled[i]!.png.equals(fresh)).toBe(true);
      }
    } finally {
      await pool.close();
    }
  });

  it("shares a size's layouts out among the threads: the PNGs of one layout are all made on one thread", async () => {
    const pool = new DemoRenderPool(3);
    try {
      const seeds = [5, 5 + LAYOUTS, 5 + 2 * LAYOUTS];
      const pngs = await Promise.all(seeds.map((seed) => pool.renderPng(272, 208, seed)));
      expect(pool.threads).toBe(1);
      // Painted in their own colours over the one layout, which stays on its thread, not here.
      expect(new Set(pngs.map(({ png }) => chunk(png, 'PLTE').toString('base64'))).size).toBe(3);
      expect(new Set(pngs.map(({ png }) => chunk(png, 'IDAT').toString('base64'))).size).toBe(1);
      expect(demoLayouts.get(272, 208, demoLayoutIndex(5))).toBeUndefined();
    } finally {
      await pool.close();
    }
  });

  it('hands small PNGs over whole too (copied, not moved, when they share a buffer on the thread)', async () => {
    const pool = new DemoRenderPool(1);
    try {
      // A 16×12 PNG is well under 4 KB: the thread cuts it from Node's shared buffer pool.
      const seeds = [1, 2, 3, 4, 5, 6];
      const pngs = await Promise.all(seeds.map((seed) => pool.renderPng(16, 12, seed)));
      for (const [i, seed] of seeds.entries()) {
        expect(pngs[i]!.png.length).toBeLessThan(4096);
        expect(pngs[i]!.png.equals(renderDemoPng(16, 12, seed))).toBe(true);
        expect(pngs[i]!.digests.sha256).toBe(createHash('sha256').update(pngs[i]!.png).digest('hex'));
      }
    } finally {
      await pool.close();
    }
  });

  // Linux only: elsewhere a thread's priority is the process's, and the threads keep it.
  it.skipIf(process.platform !== 'linux')(
    'runs its threads below the event loop: a lower CPU priority on each, none on this thread',
    async () => {
      /** This process's threads and their nice values, from /proc. */
      const threads = () =>
        new Map(
          fs.readdirSync('/proc/self/task').map((tid) => {
            const stat = fs.readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
            return [tid, Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16])] as const;
          }),
        );
      const base = os.getPriority();
      const before = threads();
      const pool = new DemoRenderPool(2);
      try {
        await Promise.all([3, 4].map((seed) => pool.renderPng(64, 48, seed)));
        expect(pool.threads).toBe(2);
        const after = threads();
        const lowered = [...after].filter(
          ([tid, nice]) => !before.has(tid) && nice === Math.min(19, base + RENDER_THREAD_NICENESS),
        );
        expect(lowered).toHaveLength(2);
        // The rest of the process, this thread included, keeps its priority.
        expect(os.getPriority()).toBe(base);
        for (const [tid, nice] of before) if (after.has(tid)) expect(nice).toBe(before.get(tid));
      } finally {
        await pool.close();
      }
    },
  );

  it('fails the PNGs of a thread that dies, and starts a fresh one for the next', async () => {
    const pool = new DemoRenderPool(1);
    try {
      await pool.renderPng(64, 64, 1);
      const waiting = pool.renderPng(64, 64, 2);
      await pool.close();
      await expect(waiting).rejects.toThrow(/exited/);
      expect(pool.threads).toBe(0);
      const again = await pool.renderPng(64, 64, 3);
      expect(again.png.equals(renderDemoPng(64, 64, 3))).toBe(true);
      expect(pool.threads).toBe(1);
    } finally {
      await pool.close();
    }
  });

  it('keeps the layouts that fit in its bound, dropping the least recently used', () => {
    const [a, b, c] = [renderDemoLayout(64, 48, 0), renderDemoLayout(64, 48, 1), renderDemoLayout(64, 48, 2)];
    const bytes = (layout: DemoLayout) =>
      layout.head.byteLength +
      layout.tail.byteLength +
      layout.alpha.byteLength +
      layout.entryU.byteLength +
      layout.entryCover.byteLength;
    const cache = new DemoLayoutCache(bytes(a) + bytes(b) + bytes(c) - 1);
    cache.set(a);
    cache.set(b);
    expect(cache.get(64, 48, 0)).toBe(a); // now the most recently used
    cache.set(c);
    expect(cache.size).toBe(2);
    expect(cache.get(64, 48, 1)).toBeUndefined();
    expect(cache.get(64, 48, 0)).toBe(a);
    expect(cache.get(64, 48, 2)).toBe(c);
    expect(cache.bytes).toBe(bytes(a) + bytes(c));
    expect(cache.bytes).toBeLessThanOrEqual(cache.maxBytes);

    const small = new DemoLayoutCache(bytes(a) - 1);
    small.set(a);
    expect([small.size, small.bytes]).toEqual([0, 0]);
  });
});
