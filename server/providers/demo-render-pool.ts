import { createRequire } from 'node:module';
import os from 'node:os';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { demoLayoutIndex } from './demo-media.ts';
import type { PaintReply, PaintRequest } from './demo-render-worker.ts';
import type { ContentDigests } from './provider.ts';

/**
 * Where the worker script is, next to this module: `demo-render-worker.js` when the server runs
 * compiled (tsc → dist/), `demo-render-worker.ts` when it runs from source under tsx; a worker thread
 * does not inherit tsx's loader, so from source it boots through tsx's `tsImport`.
 */
export function workerEntry(moduleUrl: string = import.meta.url): { url: URL; fromSource: boolean } {
  const fromSource = new URL(moduleUrl).pathname.endsWith('.ts');
  return { url: new URL(`./demo-render-worker.${fromSource ? 'ts' : 'js'}`, moduleUrl), fromSource };
}

function startWorker(): Worker {
  const { url, fromSource } = workerEntry();
  if (!fromSource) return new Worker(url);
  // The ESM build of tsx's API (require.resolve finds its CommonJS twin next to it).
  const api = createRequire(import.meta.url)
    .resolve('tsx/esm/api')
    .replace(/\.cjs$/, '.mjs');
  const tsx = pathToFileURL(api).href;
  const boot = `import(${JSON.stringify(tsx)}).then((api) => api.tsImport(${JSON.stringify(url.href)}, ${JSON.stringify(url.href)}));`;
  return new Worker(boot, { eval: true });
}

/** How far below the event loop's CPU priority a render thread runs (Linux nice steps; see the worker). */
export const RENDER_THREAD_NICENESS = 10;

interface Slot {
  worker: Worker;
  busy: number;
}

type Pending = { resolve: (png: RenderedPng) => void; reject: (error: Error) => void; slot: Slot };

/** A demo PNG and its digests, computed where it was made. */
export interface RenderedPng {
  png: Buffer;
  digests: ContentDigests;
}

/**
 * Makes demo PNGs (see `renderDemoPng`, same bytes) on worker threads, whole: the layout (rendered once a
 * thread and kept there), the palette, and the PNG's SHA-256 and MD5 (persist and the OSS upload take
 * them instead of hashing on the event loop). The server's event loop only posts the request and takes
 * the PNG, some 30 µs where painting and hashing a 512×512 PNG cost it 100–150 µs. A size's layouts are
 * shared out among the threads by index (layout i on thread i mod size), so each is rendered and held by
 * one thread (in its own `demoLayouts`, whose 32 MB holds far more than a thread's share). Threads
 * start on first need, an idle server starts none; idle threads do not keep the process alive.
 */
export class DemoRenderPool {
  private readonly slots: (Slot | undefined)[];
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;

  constructor(private readonly size = Math.max(1, Math.min(4, os.availableParallelism()))) {
    this.slots = Array.from({ length: size }, () => undefined);
  }

  /** Threads started so far (and still running). */
  get threads(): number {
    return this.slots.filter(Boolean).length;
  }

  renderPng(width: number, height: number, seed: number): Promise<RenderedPng> {
    const shard = demoLayoutIndex(seed) % this.size;
    let slot = this.slots[shard];
    if (!slot) {
      slot = this.start(shard);
      this.slots[shard] = slot;
    }
    const request: PaintRequest = { id: this.nextId++, width, height, seed };
    return new Promise<RenderedPng>((resolve, reject) => {
      this.pending.set(request.id, { resolve, reject, slot });
      slot.busy++;
      if (slot.busy === 1) slot.worker.ref();
      slot.worker.postMessage(request);
    });
  }

  async close(): Promise<void> {
    const slots = [...this.slots];
    this.slots.fill(undefined);
    await Promise.all(slots.map((s) => s?.worker.terminate()));
  }

  private start(shard: number): Slot {
    const worker = startWorker();
    const slot: Slot = { worker, busy: 0 };
    worker.unref();
    worker.on('message', (reply: PaintReply) => {
      const pending = this.pending.get(reply.id);
      if (!pending) return;
      this.pending.delete(reply.id);
      if (--slot.busy === 0) worker.unref();
      if ('png' in reply) {
        const png = Buffer.from(reply.png.buffer, reply.png.byteOffset, reply.png.byteLength);
        pending.resolve({ png, digests: reply.digests });
      } else pending.reject(new Error(reply.error || 'demo render failed'));
    });
    worker.on('error', (error) => this.fail(shard, slot, error));
    worker.on('exit', (code) => {
      if (code !== 0) this.fail(shard, slot, new Error(`demo render thread exited with ${code}`));
    });
    return slot;
  }

  /** A thread died: fail what it held, forget it, and let the next PNG of its share start a fresh one. */
  private fail(shard: number, slot: Slot, error: Error): void {
    if (this.slots[shard] === slot) this.slots[shard] = undefined;
    for (const [id, pending] of this.pending) {
      if (pending.slot !== slot) continue;
      this.pending.delete(id);
      pending.reject(error);
    }
  }
}
